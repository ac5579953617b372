#!/bin/sh
# make demo's LMS round trip (issue 26): A1's example students handed in through a Canvas download and
# a Moodle download, graded, exported in the files each gradebook imports, and their feedback pages
# laid out for each platform's bulk feedback upload. Usage: scripts/demo_lms_roundtrip.sh [mdl]
set -eu
MDL=${1:-.venv/bin/mdl}
ex=examples/submissions/a1
root=graded/lms
rm -rf "$root"
mkdir -p "$root/canvas-download" "$root/moodle-download"
# Canvas names each file <sortable name>_<user id>_<submission id>_<file name> (_LATE_ after the name if late)
cp "$ex/correct_alt_1.ipynb" "$root/canvas-download/doejohn_12345_67890_a1.ipynb"
cp "$ex/partial.ipynb" "$root/canvas-download/roejane_LATE_22222_67891_a1.ipynb"
cp "$ex/blank.ipynb" "$root/canvas-download/ngcarol_1003_67892_a1.ipynb"
# Moodle's download "in folders": <Full name>_<participant number>_assignsubmission_file_/<file name>
for pair in "John Doe_871:correct_alt_1" "Jane Roe_872:partial" "Carol Ng_873:blank"; do
  folder="$root/moodle-download/${pair%%:*}_assignsubmission_file_"
  mkdir -p "$folder" && cp "$ex/${pair##*:}.ipynb" "$folder/a1.ipynb"
done
"$MDL" grade a1 "$root/canvas-download" --out "$root/canvas"
"$MDL" export "$root/canvas" --format canvas --canvas-assignment-id 4411
"$MDL" feedback-export "$root/canvas" --format canvas
"$MDL" grade a1 "$root/moodle-download" --out "$root/moodle"
"$MDL" export "$root/moodle" --format moodle-worksheet
"$MDL" feedback-export "$root/moodle" --format moodle
echo "LMS round trip: $root/canvas/export-canvas.csv, $root/canvas/feedback-canvas.zip,"
echo "                $root/moodle/export-moodle-worksheet.csv, $root/moodle/feedback-moodle.zip"
