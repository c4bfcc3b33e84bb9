#!/usr/bin/env bash
# Renders the krew manifest (plugin.yaml) from the krew-release-bot template
# krew/.krew.yaml, the same way the bot does on a release tag: every
# `{{ .TagName }}` becomes VERSION, and every
#   {{ addURIAndSha "<url with {{ .TagName }}>" .TagName }}
# line becomes the `uri:` of the release asset and the `sha256:` of the archive
# of the same file name found in DIR.
#
# Usage: krew/render-manifest.sh [--allow-missing] [-o FILE] VERSION DIR
#
#   VERSION          release tag, a v-prefixed semantic version (v0.1.0)
#   DIR              directory holding the release archives
#                    (kubectl-mtls_<VERSION>_<os>_<arch>.tar.gz / .zip)
#   -o FILE          where to write the manifest (default: plugin.yaml at the
#                    repository root); written only when rendering succeeded
#   --allow-missing  a platform whose archive is not in DIR gets the
#                    placeholder sha256 (64 f's) instead of failing; used
#                    for the committed plugin.yaml before the release exists
#                    and by krew/package.sh for a single-platform local build
set -euo pipefail

# 64 f's rather than 64 zeros: an all-digit value would be read by YAML as a
# number, which krew cannot decode into the sha256 string.
readonly PLACEHOLDER_SHA256=ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff

usage() {
  sed -n '9,19s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

die() {
  echo "render-manifest.sh: $*" >&2
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
template="$repo_root/krew/.krew.yaml"
output="$repo_root/plugin.yaml"
allow_missing=false
positional=()
while [ $# -gt 0 ]; do
  case "$1" in
    --allow-missing) allow_missing=true ;;
    -o)
      [ $# -ge 2 ] || usage
      output=$2
      shift
      ;;
    -h | --help) usage ;;
    -*) echo "render-manifest.sh: unknown option $1" >&2; usage ;;
    *) positional+=("$1") ;;
  esac
  shift
done
[ ${#positional[@]} -eq 2 ] || usage
version=${positional[0]}
dir=${positional[1]}

semver_re='^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$'
[[ $version =~ $semver_re ]] ||
  die "VERSION must be a v-prefixed semantic version such as v0.1.0, got '$version'"
[ -d "$dir" ] || die "DIR '$dir' is not a directory"
[ -f "$template" ] || die "template $template not found"

tag_action='{{ .TagName }}'
version_action='{{ .Version }}'
# The bot's addURIAndSha takes the URL (itself a template of .TagName and
# .Version, the tag without its leading v) and the tag; it writes
# "uri: URL\n    sha256: SHA" where the action stood.
add_uri_re='^( *)\{\{ *addURIAndSha +"([^"]+)" +\.TagName *\}\}[[:space:]]*$'

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
missing=()
line_no=0
while IFS= read -r line || [ -n "$line" ]; do
  line_no=$((line_no + 1))
  if [[ $line =~ $add_uri_re ]]; then
    indent=${BASH_REMATCH[1]}
    url=${BASH_REMATCH[2]}
    url=${url//"$tag_action"/$version}
    url=${url//"$version_action"/${version#v}}
    file=${url##*/}
    if [ -f "$dir/$file" ]; then
      sha=$(sha256_of "$dir/$file")
    elif $allow_missing; then
      echo "render-manifest.sh: $file not in $dir, using the placeholder sha256" >&2
      sha=$PLACEHOLDER_SHA256
    else
      missing+=("$file")
      sha=$PLACEHOLDER_SHA256
    fi
    printf '%suri: %s\n    sha256: %s\n' "$indent" "$url" "$sha" >>"$tmp"
    continue
  fi
  line=${line//"$tag_action"/$version}
  case "$line" in
    *'{{'*) die "$template:$line_no: unsupported template action (only {{ .TagName }} and addURIAndSha on a line of its own): $line" ;;
  esac
  printf '%s\n' "$line" >>"$tmp"
done <"$template"

if [ ${#missing[@]} -gt 0 ]; then
  die "archives missing in $dir: ${missing[*]} (pass --allow-missing to write placeholder checksums)"
fi
mkdir -p "$(dirname "$output")"
chmod 0644 "$tmp"
mv "$tmp" "$output"
trap - EXIT
echo "render-manifest.sh: wrote $output for $version" >&2
