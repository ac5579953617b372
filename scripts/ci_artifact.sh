#!/usr/bin/env bash
# Pack or unpack one artifact of .github/workflows/grade.yml: a tar.gz, encrypted with the ARTIFACT_KEY
# secret where one is set (AES-256, key from PBKDF2), so that submissions, records and grades are never
# readable by whoever can download the workflow's artifacts (everyone, on a public repository).
#   scripts/ci_artifact.sh pack OUT.tgz PATH...    (OUT.tgz.enc when ARTIFACT_KEY is set)
#   scripts/ci_artifact.sh unpack FOLDER_OF_ARTIFACTS INTO
set -euo pipefail
mode="$1"; shift
if [ "$mode" = pack ]; then
  out="$1"; shift
  if [ -n "${ARTIFACT_KEY:-}" ]; then
    tar czf - "$@" | openssl enc -aes-256-cbc -pbkdf2 -iter 200000 -salt -pass env:ARTIFACT_KEY -out "$out.enc"
  else
    tar czf "$out" "$@"
  fi
elif [ "$mode" = unpack ]; then
  from="$1"; into="$2"
  mkdir -p "$into"
  find "$from" -type f \( -name '*.tgz' -o -name '*.tgz.enc' \) -print0 | while IFS= read -r -d '' file; do
    case "$file" in
      *.enc) openssl enc -d -aes-256-cbc -pbkdf2 -iter 200000 -pass env:ARTIFACT_KEY -in "$file" | tar xzf - -C "$into" ;;
      *) tar xzf "$file" -C "$into" ;;
    esac
  done
else
  echo "usage: $0 pack OUT.tgz PATH... | unpack FROM INTO" >&2; exit 2
fi
