"""Issue 10 items 3 and 5: what CVAT writes loads and saves again; exports without <meta>."""

from __future__ import annotations

from pathlib import Path

import pytest

from dl_utils import cvat

LABELS = """
      <labels>
        <label><name>car</name><color>#ff0000</color><type>rectangle</type><attributes>
          <attribute><name>color</name><mutable>False</mutable><input_type>select</input_type>
            <default_value>red</default_value><values>red
blue</values></attribute>
        </attributes></label>
        <label><name>person</name><color>#00ff00</color><type>any</type><attributes/></label>
      </labels>"""

# a CVAT for video 1.1 export of a task with a ground-truth job: CVAT writes source="Ground truth"
GT_VIDEO = f"""<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <task>
      <id>7</id><name>gt</name><size>6</size><mode>interpolation</mode><overlap>0</overlap>
      <start_frame>0</start_frame><stop_frame>5</stop_frame><frame_filter></frame_filter>
      <segments><segment><id>1</id><start>0</start><stop>5</stop><url></url></segment></segments>
      {LABELS}
      <original_size><width>64</width><height>48</height></original_size>
    </task>
    <source>clip.mp4</source>
  </meta>
  <track id="0" label="car" source="Ground truth">
    <box frame="0" keyframe="1" outside="0" occluded="0" xtl="1.00" ytl="2.00" xbr="11.00" ybr="12.00" z_order="0">
      <attribute name="color">blue</attribute>
    </box>
    <box frame="3" keyframe="1" outside="1" occluded="0" xtl="4.00" ytl="2.00" xbr="14.00" ybr="12.00" z_order="0">
      <attribute name="color">blue</attribute>
    </box>
  </track>
  <track id="1" label="person" source="consensus">
    <polygon frame="1" keyframe="1" outside="0" occluded="1" points="1.00,1.00;9.00,1.00;5.00,7.00" z_order="2"/>
    <polygon frame="2" keyframe="1" outside="1" occluded="1" points="1.00,1.00;9.00,1.00;5.00,7.00" z_order="2"/>
  </track>
</annotations>
"""

# CVAT for images 1.1: GT shapes, a polygon of a label whose type was later set to "rectangle"
GT_IMAGES = f"""<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <task>
      <id>8</id><name>gt-images</name><size>2</size><mode>annotation</mode><overlap>0</overlap>
      <start_frame>0</start_frame><stop_frame>1</stop_frame><frame_filter></frame_filter>
      <segments><segment><id>1</id><start>0</start><stop>1</stop><url></url></segment></segments>
      {LABELS}
    </task>
  </meta>
  <image id="0" name="a.jpg" width="64" height="48">
    <box label="car" source="Ground truth" occluded="0" xtl="1.00" ytl="2.00" xbr="11.00" ybr="12.00" z_order="0">
      <attribute name="color">red</attribute>
    </box>
    <polygon label="car" source="file" occluded="0" points="1.00,1.00;9.00,1.00;5.00,7.00" z_order="-1"/>
    <tag label="person" source="Ground truth"/>
  </image>
  <image id="1" name="b.jpg" width="64" height="48">
    <ellipse label="person" source="semi-auto" occluded="1" cx="20.00" cy="20.00" rx="5.00" ry="3.00" rotation="359.50" z_order="3"/>
  </image>
</annotations>
"""

NO_META_IMAGES = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <image id="1" name="a.jpg" width="10" height="8">
    <box label="car" xtl="1" ytl="1" xbr="4" ybr="4" occluded="0"><attribute name="color">red</attribute></box>
  </image>
  <image id="2" name="b.jpg" width="10" height="8">
    <polygon label="road" points="0,0;5,0;5,5"/>
    <tag label="day"/>
  </image>
  <image id="4" name="d.jpg" width="10" height="8">
    <skeleton label="human"><points label="head" points="1,1"/><points label="hand" points="2,2" outside="1"/></skeleton>
  </image>
</annotations>
"""

NO_META_VIDEO = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <track id="0" label="car">
    <box frame="2" keyframe="1" outside="0" occluded="0" xtl="1" ytl="2" xbr="11" ybr="12"/>
    <box frame="5" keyframe="1" outside="0" occluded="0" xtl="4" ytl="2" xbr="14" ybr="12"/>
  </track>
</annotations>
"""


def _round_trip(task: cvat.Task | cvat.Project, tmp_path: Path, fmt: str, name: str = "out") -> None:
    ext = {"cvat-images": "xml", "cvat-video": "xml", "backup": "zip", "api-json": "json"}[fmt]
    out = tmp_path / f"{name}_{fmt}.{ext}"
    cvat.save(task, out, format=fmt)
    again = cvat.load(out)
    out2 = tmp_path / f"{name}_{fmt}_2.{ext}"
    cvat.save(again, out2, format=fmt)
    for a, b in zip(cvat.iter_tasks(cvat.load(out2)), cvat.iter_tasks(again), strict=True):
        assert a.diff(b) == [], fmt


def test_ground_truth_tracks_load_and_save(tmp_path):
    p = tmp_path / "gt.xml"
    p.write_text(GT_VIDEO)
    task = cvat.load(p)
    assert sorted(set(task.annotations["source"])) == ["Ground truth", "consensus"]
    cvat.validate(task)  # today's regression: save() refused the task load() returned
    out = tmp_path / "again.xml"
    cvat.save(task, out)
    assert cvat.load(out).diff(task) == []
    for fmt in ("api-json", "backup"):
        _round_trip(task, tmp_path, fmt)
        back = cvat.load(next(tmp_path.glob(f"out_{fmt}.*")))
        assert back.diff(task, ignore=["jobs", "frames", "media"]) == []


def test_ground_truth_shapes_and_retyped_labels_load_and_save(tmp_path):
    p = tmp_path / "gt.xml"
    p.write_text(GT_IMAGES)
    task = cvat.load(p)
    assert sorted(set(task.annotations["source"])) == ["Ground truth", "file", "semi-auto"]
    assert {"polygon", "rectangle"} <= set(task.select(labels="car").annotations["type"])
    cvat.validate(task)
    out = tmp_path / "again.xml"
    cvat.save(task, out)
    assert cvat.load(out).diff(task) == []
    for fmt in ("api-json", "backup"):
        _round_trip(task, tmp_path, fmt)


def test_sources_cvat_cannot_store_are_refused(tmp_path):
    p = tmp_path / "gt.xml"
    p.write_text(GT_IMAGES.replace('source="file"', 'source="' + "x" * 17 + '"'))
    task = cvat.load(p)
    with pytest.raises(cvat.ValidationError, match="at most 16 characters"):
        cvat.save(task, tmp_path / "no.xml")
    assert not (tmp_path / "no.xml").exists()


def test_images_export_without_meta(tmp_path):
    p = tmp_path / "nometa.xml"
    p.write_text(NO_META_IMAGES)
    task = cvat.load(p)
    # task size from the largest image id + 1, not from the number of <image> elements
    assert task.size == 5
    assert task.frames["name"].tolist() == ["", "a.jpg", "b.jpg", "", "d.jpg"]
    assert sorted(task.annotations["frame"].tolist()) == [1, 2, 2, 4]
    labels = {lb.name: lb for lb in task.labels}
    assert set(labels) == {"car", "road", "day", "human"}
    assert [a.name for a in labels["car"].attributes] == ["color"]
    assert labels["human"].type == "skeleton" and labels["human"].sublabel_names == ["head", "hand"]
    cvat.validate(task)
    out = tmp_path / "again.xml"
    cvat.save(task, out)
    again = cvat.load(out)
    assert again.diff(task) == []
    # (backups are left out: frames without a name, here 0 and 3, are not images a backup can list)
    for fmt in ("cvat-images", "api-json"):
        _round_trip(task, tmp_path, fmt)


def test_video_export_without_meta(tmp_path):
    p = tmp_path / "nometa.xml"
    p.write_text(NO_META_VIDEO)
    task = cvat.load(p)
    assert task.size == 6
    assert task.label_names == ["car"]
    assert task.annotations["frame"].tolist() == [2, 5]
    cvat.validate(task)
    for fmt in ("cvat-video", "api-json", "backup"):
        _round_trip(task, tmp_path, fmt)
