#!/usr/bin/env bash
# Packs the release archive of one platform, with the layout krew expects:
#   kubectl-mtls[.exe], kubectl_complete-mtls[.exe], LICENSE, README.md
# at the archive root, named kubectl-mtls_<version>_<os>_<arch>.tar.gz
# (.zip for windows), plus <archive>.sha256 in `sha256sum` format.
#
# Usage: krew/package.sh [--target TRIPLE] [--bin-dir DIR] [--out DIR] [--version vX.Y.Z]
#
#   --target TRIPLE  Rust target triple to package (default: the host's)
#   --bin-dir DIR    directory holding the built binaries; without it the
#                    script runs `cargo build --release --locked` itself and,
#                    once packed, renders OUT/plugin.yaml with the real sha256
#                    of this archive (other platforms get placeholders), ready
#                    for a local `kubectl krew install --manifest --archive`
#   --out DIR        output directory (default: dist at the repository root)
#   --version V      expected release tag; fails unless it is v + the version
#                    in Cargo.toml (the release workflow passes the git tag)
#
# The release workflow (.github/workflows/release.yml) calls this with
# --bin-dir for each of the six targets; tests/krew_manifest.rs calls it on
# stand-in binaries to check the archive layout against plugin.yaml.
set -euo pipefail

usage() {
  sed -n '7,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

die() {
  echo "package.sh: $*" >&2
  exit 1
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    die "neither sha256sum nor shasum is installed"
  fi
}

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=""
bin_dir=""
out_dir="$repo_root/dist"
expected_version=""
while [ $# -gt 0 ]; do
  case "$1" in
    --target | --bin-dir | --out | --version)
      [ $# -ge 2 ] || usage
      case "$1" in
        --target) target=$2 ;;
        --bin-dir) bin_dir=$2 ;;
        --out) out_dir=$2 ;;
        --version) expected_version=$2 ;;
      esac
      shift 2
      ;;
    -h | --help) usage ;;
    *) echo "package.sh: unknown argument $1" >&2; usage ;;
  esac
done

# The crate version: the first `version = "..."` of the [package] table.
crate_version=$(awk '
  /^\[/ { in_package = ($0 == "[package]") }
  in_package && /^version *= *"/ { sub(/^version *= *"/, ""); sub(/".*$/, ""); print; exit }
' "$repo_root/Cargo.toml")
[ -n "$crate_version" ] || die "no version found in the [package] table of Cargo.toml"
version="v$crate_version"
if [ -n "$expected_version" ] && [ "$expected_version" != "$version" ]; then
  die "release tag $expected_version does not match Cargo.toml's version $crate_version (expected tag $version)"
fi

host_build=false
if [ -z "$target" ]; then
  host_build=true
  target=$(rustc -vV | sed -n 's/^host: //p')
  [ -n "$target" ] || die "could not read the host triple from rustc -vV"
fi
case "$target" in
  x86_64-unknown-linux-*) os=linux arch=amd64 ;;
  aarch64-unknown-linux-*) os=linux arch=arm64 ;;
  x86_64-apple-darwin) os=darwin arch=amd64 ;;
  aarch64-apple-darwin) os=darwin arch=arm64 ;;
  x86_64-pc-windows-*) os=windows arch=amd64 ;;
  aarch64-pc-windows-*) os=windows arch=arm64 ;;
  *) die "target $target is not one of the six release platforms (linux, darwin, windows x amd64, arm64)" ;;
esac

local_build=false
if [ -z "$bin_dir" ]; then
  local_build=true
  echo "package.sh: building kubectl-mtls $version for $target" >&2
  if $host_build; then
    (cd "$repo_root" && cargo build --release --locked)
    bin_dir="$repo_root/target/release"
  else
    (cd "$repo_root" && cargo build --release --locked --target "$target")
    bin_dir="$repo_root/target/$target/release"
  fi
fi

exe=""
[ "$os" = windows ] && exe=".exe"
binaries=("kubectl-mtls$exe" "kubectl_complete-mtls$exe")
for b in "${binaries[@]}"; do
  [ -f "$bin_dir/$b" ] || die "$bin_dir/$b not found: the crate must build both kubectl-mtls and the completion helper kubectl_complete-mtls"
done
for f in LICENSE README.md; do
  [ -f "$repo_root/$f" ] || die "$repo_root/$f not found: every archive ships it"
done

name="kubectl-mtls_${version}_${os}_${arch}"
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for b in "${binaries[@]}"; do
  cp "$bin_dir/$b" "$stage/$b"
  chmod 0755 "$stage/$b"
done
cp "$repo_root/LICENSE" "$repo_root/README.md" "$stage/"
chmod 0644 "$stage/LICENSE" "$stage/README.md"
entries=("${binaries[@]}" LICENSE README.md)

if [ "$os" = windows ]; then
  archive="$name.zip"
  rm -f "$out_dir/$archive"
  if command -v zip >/dev/null 2>&1; then
    (cd "$stage" && zip -q -X "$out_dir/$archive" "${entries[@]}")
  elif command -v 7z >/dev/null 2>&1; then
    (cd "$stage" && 7z a -tzip -bd "$out_dir/$archive" "${entries[@]}" >/dev/null)
  else
    die "zip or 7z is needed to pack $archive"
  fi
else
  archive="$name.tar.gz"
  # GNU tar can pack reproducibly (fixed order, owner and mtime); bsdtar on
  # macOS runners packs the same entries without those guarantees, and
  # COPYFILE_DISABLE keeps it from adding AppleDouble (._*) members.
  mtime=${SOURCE_DATE_EPOCH:-$(git -C "$repo_root" log -1 --format=%ct 2>/dev/null || echo 0)}
  if tar --version 2>/dev/null | grep -q 'GNU tar'; then
    (cd "$stage" && tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" \
      -cf - "${entries[@]}") | gzip -n -9 >"$out_dir/$archive"
  else
    (cd "$stage" && COPYFILE_DISABLE=1 tar -cf - "${entries[@]}") | gzip -n -9 >"$out_dir/$archive"
  fi
fi

sha=$(sha256_of "$out_dir/$archive")
printf '%s  %s\n' "$sha" "$archive" >"$out_dir/$archive.sha256"
echo "package.sh: wrote $out_dir/$archive (sha256 $sha)" >&2

if $local_build; then
  bash "$repo_root/krew/render-manifest.sh" --allow-missing -o "$out_dir/plugin.yaml" "$version" "$out_dir"
  cat >&2 <<EOF
package.sh: test the krew install of this build with
  kubectl krew install --manifest=$out_dir/plugin.yaml --archive=$out_dir/$archive
EOF
fi
