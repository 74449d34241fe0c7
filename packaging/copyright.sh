#!/usr/bin/env bash
# Writes debian/copyright (machine-readable format 1.0) for the given Go
# binaries: vswitch itself, then the Go standard library and every module
# linked into them (from the build info, `go version -m`), each with its
# license: a file that is the Apache 2.0 license alone by reference to
# /usr/share/common-licenses, any other (BSD, MIT, several) in full from
# the module's own LICENSE file.
set -euo pipefail
cat <<'HEAD'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: vswitch
Comment: vswitchd, vswitchctl and vswitch-cni are statically linked Go
 programs: they hold the Go standard library and the Go modules listed
 below, each under its own license.

Files: *
Copyright: the vswitch authors
License: none-stated
 The vswitch source states no license. Ask its authors before
 redistributing it.
HEAD

# indent turns a license text into a copyright field's continuation lines.
indent() { sed -e 's/[[:space:]]*$//' -e 's/^$/./' -e 's/^/ /'; }

emit() { # NAME DIR
  local lic
  lic=$(ls "$2" 2>/dev/null | grep -m1 -E '^(LICENSE|LICENCE|COPYING)(\.txt|\.md)?$' || true)
  echo
  echo "Files: $1 (linked)"
  echo "Copyright: the authors of $1"
  if [ -z "$lic" ]; then
    echo "License: unknown"
    echo " No license file found in $2."
  elif [ "$(grep -m1 -v '^[[:space:]]*$' "$2/$lic" | tr -s ' ' | sed 's/^ //')" = "Apache License" ]; then
    # Only the Apache license (files that add another, such as yaml's MIT
    # part, are given in full below).
    echo "License: Apache-2.0"
    echo " On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0."
  else
    echo "License: ${1%% *}-license"
    indent <"$2/$lic"
  fi
}

emit "Go standard library $(go env GOVERSION)" "$(go env GOROOT)"
# Where each module's source is: one `go list` of the build list (the
# binaries were built from it); a module it lacks is asked for alone.
dirs=$(go list -m -f '{{.Path}}@{{.Version}} {{.Dir}}' all 2>/dev/null || true)
go version -m "$@" | awk '$1 == "dep" { print $2, $3 }' | sort -u | while read -r mod ver; do
  dir=$(awk -v m="$mod@$ver" '$1 == m { print $2 }' <<<"$dirs")
  if [ -z "$dir" ]; then
    dir=$(go mod download -json "$mod@$ver" 2>/dev/null | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  fi
  emit "$mod $ver" "$dir"
done
