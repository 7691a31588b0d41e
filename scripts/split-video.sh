#!/usr/bin/env bash
# Split a video into parts by maximum duration and/or maximum size, with ffmpeg/ffprobe.
#
# Default mode re-encodes (libx264) and cuts on exact frames: every frame of the input lands in
# exactly one part. --copy keeps the streams as they are (fast, lossless) but can only cut on
# keyframes, so part boundaries move to the nearest keyframe and parts may overlap by up to a GOP.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: split-video.sh [options] INPUT

Split INPUT into parts no longer than --duration seconds and/or no larger than --size.

Options:
  -d, --duration SECONDS  maximum duration of each part (e.g. 600 or 90.5)
  -s, --size SIZE         maximum size of each part in bytes; K, M, G suffixes allowed (e.g. 500M)
  -o, --outdir DIR        output folder (default: the input's folder)
  -c, --copy              no re-encoding: cut on keyframes with -c copy (fast; cuts are approximate)
      --crf N             x264 quality when re-encoding (default 18)
      --preset NAME       x264 preset when re-encoding (default veryfast)
  -f, --force             overwrite existing parts
  -h, --help              show this help

Parts are named <stem>_part001.<ext>, <stem>_part002.<ext>, ... in the output folder.
At least one of --duration and --size is required.
USAGE
}

die() { echo "split-video.sh: $*" >&2; exit 1; }

to_bytes() {
  local value=$1 number unit
  if [[ ! $value =~ ^([0-9]+)([KkMmGg]?)$ ]]; then
    die "invalid --size '$value' (expected bytes, optionally with K, M or G)"
  fi
  number=${BASH_REMATCH[1]}
  unit=${BASH_REMATCH[2]}
  case $unit in
    K|k) echo $((number * 1024)) ;;
    M|m) echo $((number * 1024 * 1024)) ;;
    G|g) echo $((number * 1024 * 1024 * 1024)) ;;
    *) echo "$number" ;;
  esac
}

if [ $# -eq 0 ]; then usage; exit 0; fi

duration="" size="" outdir="" copy=0 force=0 crf=18 preset=veryfast input=""
while [ $# -gt 0 ]; do
  case $1 in
    -d|--duration) [ $# -ge 2 ] || die "$1 needs a value"; duration=$2; shift 2 ;;
    -s|--size) [ $# -ge 2 ] || die "$1 needs a value"; size=$(to_bytes "$2"); shift 2 ;;
    -o|--outdir) [ $# -ge 2 ] || die "$1 needs a value"; outdir=$2; shift 2 ;;
    -c|--copy) copy=1; shift ;;
    --crf) [ $# -ge 2 ] || die "$1 needs a value"; crf=$2; shift 2 ;;
    --preset) [ $# -ge 2 ] || die "$1 needs a value"; preset=$2; shift 2 ;;
    -f|--force) force=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; [ $# -ge 1 ] && input=$1; break ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [ -z "$input" ] || die "only one INPUT allowed (got '$input' and '$1')"; input=$1; shift ;;
  esac
done

[ -n "$input" ] || die "no INPUT given (see --help)"
[ -f "$input" ] || die "input not found: $input"
[ -s "$input" ] || die "input is empty: $input"
[ -n "$duration" ] || [ -n "$size" ] || die "give --duration and/or --size"
if [ -n "$duration" ]; then
  [[ $duration =~ ^[0-9]+([.][0-9]+)?$ ]] || die "invalid --duration '$duration' (seconds)"
  awk -v d="$duration" 'BEGIN { exit !(d > 0) }' || die "--duration must be > 0"
fi
if [ -n "$size" ] && [ "$size" -le 0 ]; then die "--size must be > 0"; fi
[[ $crf =~ ^[0-9]+$ ]] || die "invalid --crf '$crf'"
command -v ffmpeg >/dev/null || die "ffmpeg not found (apt-get install ffmpeg)"
command -v ffprobe >/dev/null || die "ffprobe not found (apt-get install ffmpeg)"

[ -n "$outdir" ] || outdir=$(dirname -- "$input")
mkdir -p -- "$outdir"
name=$(basename -- "$input")
stem=${name%.*}
ext=${name##*.}
[ "$ext" != "$name" ] || ext=mp4

shopt -s nullglob
existing=("$outdir/${stem}_part"[0-9][0-9][0-9]".$ext")
shopt -u nullglob
if [ ${#existing[@]} -gt 0 ] && [ "$force" -eq 0 ]; then
  die "parts already exist in '$outdir' (e.g. ${existing[0]}); use -f to overwrite"
fi

probe() { ffprobe -v error "$@"; }
total_duration=$(probe -show_entries format=duration -of default=nw=1:nk=1 -- "$input") \
  || die "ffprobe could not read '$input' (not a video?)"
[[ $total_duration =~ ^[0-9.]+$ ]] || die "could not read the duration of '$input'"
rate=$(probe -select_streams v:0 -show_entries stream=avg_frame_rate -of default=nw=1:nk=1 -- "$input")
[ -n "$rate" ] && [ "$rate" != "0/0" ] || die "'$input' has no video stream"
fps=$(awk -v r="$rate" 'BEGIN { split(r, a, "/"); if (a[2] == "") a[2] = 1; printf "%.6f", a[1] / a[2] }')

count_frames() {
  probe -select_streams v:0 -count_packets -show_entries stream=nb_read_packets \
    -of default=nw=1:nk=1 -- "$1"
}
part_duration() {
  probe -show_entries format=duration -of default=nw=1:nk=1 -- "$1"
}

part=0
if [ "$copy" -eq 0 ]; then
  total_frames=$(count_frames "$input")
  [[ $total_frames =~ ^[0-9]+$ ]] && [ "$total_frames" -gt 0 ] || die "no video frames in '$input'"
  frames_per_part=""
  if [ -n "$duration" ]; then
    frames_per_part=$(awk -v d="$duration" -v f="$fps" 'BEGIN { n = int(d * f + 1e-6); if (n < 1) n = 1; print n }')
  fi
  start=0
  while [ "$start" -lt "$total_frames" ]; do
    part=$((part + 1))
    out=$(printf '%s/%s_part%03d.%s' "$outdir" "$stem" "$part" "$ext")
    tmp="$outdir/.${stem}_part$(printf '%03d' "$part").tmp.$ext"
    # Seek half a frame early: accurate seeking keeps frames with pts >= t, so this starts
    # exactly at frame $start despite float rounding.
    seek=$(awk -v s="$start" -v f="$fps" 'BEGIN { t = (s - 0.5) / f; if (t < 0) t = 0; printf "%.6f", t }')
    want=$frames_per_part
    # A size limit is met by shrinking the frame count until the part fits: ffmpeg's -fs is only
    # a hint for mp4 (the index is written at the end), so the real size is checked after each try.
    for _try in 1 2 3 4 5 6 7 8; do
      limit=()
      [ -n "$want" ] && limit+=(-frames:v "$want")
      [ -n "$size" ] && limit+=(-fs "$size")
      ffmpeg -nostdin -hide_banner -loglevel error -y -ss "$seek" -i "$input" "${limit[@]}" \
        -map 0:v:0 -map '0:a:0?' -c:v libx264 -preset "$preset" -crf "$crf" -pix_fmt yuv420p \
        -c:a aac -- "$tmp" || { rm -f -- "$tmp"; die "ffmpeg failed on part $part (frame $start)"; }
      got=$(count_frames "$tmp")
      if ! [[ $got =~ ^[0-9]+$ ]] || [ "$got" -eq 0 ]; then
        rm -f -- "$tmp"
        die "part $part came out empty at frame $start (is --size too small for one frame?)"
      fi
      bytes=$(stat -c %s -- "$tmp")
      if [ -z "$size" ] || [ "$bytes" -le "$size" ]; then break; fi
      if [ "$got" -le 1 ]; then
        rm -f -- "$tmp"
        die "one frame at $start is already larger than --size ($bytes > $size bytes)"
      fi
      want=$(awk -v g="$got" -v b="$bytes" -v s="$size" 'BEGIN { n = int(g * s / b * 0.95); if (n >= g) n = g - 1; if (n < 1) n = 1; print n }')
    done
    if [ -n "$size" ] && [ "$bytes" -gt "$size" ]; then
      rm -f -- "$tmp"
      die "could not fit part $part (from frame $start) into $size bytes"
    fi
    mv -f -- "$tmp" "$out"
    echo "$out: frames $start-$((start + got - 1)), $bytes bytes"
    start=$((start + got))
  done
else
  # Copy mode: ffmpeg's segment muxer cuts at the first keyframe after each boundary, so every
  # packet lands in exactly one part and nothing is re-encoded. A size limit becomes a segment
  # duration from the average bitrate, shrunk until every part fits (keyframes permitting).
  file_bytes=$(stat -c %s -- "$input")
  seg_time=$duration
  if [ -n "$size" ]; then
    by_size=$(awk -v s="$size" -v b="$file_bytes" -v t="$total_duration" 'BEGIN { printf "%.3f", 0.9 * s * t / b }')
    if [ -z "$seg_time" ] || awk -v a="$by_size" -v b="$seg_time" 'BEGIN { exit !(a < b) }'; then
      seg_time=$by_size
    fi
  fi
  work=$(mktemp -d "$outdir/.split-video.XXXXXX")
  trap 'rm -rf -- "$work"' EXIT
  for _try in 1 2 3 4 5 6; do
    rm -f -- "$work"/*
    ffmpeg -nostdin -hide_banner -loglevel error -y -i "$input" -map 0 -c copy -f segment \
      -segment_time "$seg_time" -reset_timestamps 1 -- "$work/part%03d.$ext" \
      || die "ffmpeg failed while splitting '$input'"
    too_big=0
    if [ -n "$size" ]; then
      for f in "$work"/part*."$ext"; do
        if [ "$(stat -c %s -- "$f")" -gt "$size" ]; then too_big=1; fi
      done
    fi
    [ "$too_big" -eq 0 ] && break
    seg_time=$(awk -v t="$seg_time" 'BEGIN { printf "%.3f", t * 0.7 }')
  done
  [ "$too_big" -eq 0 ] || die "could not cut parts under $size bytes at keyframes; re-encode instead (drop --copy)"
  for f in "$work"/part*."$ext"; do
    part=$((part + 1))
    out=$(printf '%s/%s_part%03d.%s' "$outdir" "$stem" "$part" "$ext")
    got=$(part_duration "$f")
    if ! awk -v g="${got:-0}" 'BEGIN { exit !(g > 0) }'; then
      die "part $part came out empty (is --size smaller than one GOP?)"
    fi
    mv -f -- "$f" "$out"
    echo "$out: ${got}s (keyframe cut)"
  done
fi
echo "split '$input' into $part part(s) in '$outdir'"
