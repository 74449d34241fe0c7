#!/usr/bin/env bash
# Builds the Debian package from bin/ (make deb runs it after make build):
# stages the tree a dpkg -i would unpack and runs dpkg-deb on it.
#
#   packaging/mkdeb.sh VERSION OUTDIR
#
# VERSION is the build's (git describe): a release tag (1.2.0, v1.2.0,
# 1.2.0-3-gabcdef) gives the Debian version; anything else (a bare commit,
# as in an untagged tree) is written 0~gitDATE.COMMIT, which sorts below any
# release and in commit order.
#
# Environment: DEB_MAINTAINER the Maintainer field, BIN the directory of
# the binaries (default bin), DEB_COMPRESS dpkg-deb's -Z (default xz).
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?usage: packaging/mkdeb.sh VERSION OUTDIR}
out=${2:?usage: packaging/mkdeb.sh VERSION OUTDIR}
arch=$(dpkg --print-architecture)
maintainer=${DEB_MAINTAINER:-vswitch maintainers <vswitch@localhost>}
bin=${BIN:-bin}

for b in vswitchd vswitchctl vswitch-cni; do
  [ -x "$bin/$b" ] || { echo "mkdeb: $bin/$b missing: run make build first" >&2; exit 1; }
done
if [[ $version =~ ^v?[0-9]+(\.[0-9]+)+ ]]; then
  # A release tag, v1.2.0 or 1.2.0-3-gabcdef-dirty after it: '-' is the
  # Debian revision's separator. (A bare commit such as 9987772 starts
  # with a digit too, hence the dot.)
  debver=${version#v}
  debver=${debver//-/+}
else
  date=$(git log -1 --format=%cd --date=format:%Y%m%d%H%M%S 2>/dev/null || date -u +%Y%m%d%H%M%S)
  debver="0~git${date}.${version//-/.}"
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
doc=$root/usr/share/doc/vswitch

install -D -m 0755 "$bin/vswitchd" "$root/usr/sbin/vswitchd"
install -D -m 0755 "$bin/vswitchctl" "$root/usr/bin/vswitchctl"
# /usr/lib/cni, where Debian's containernetworking-plugins puts plugins;
# Debian packages do not install into /opt (docs/operators.md says how to
# point a runtime that looks in /opt/cni/bin at it).
install -D -m 0755 "$bin/vswitch-cni" "$root/usr/lib/cni/vswitch-cni"
install -D -m 0644 packaging/vswitchd.service "$root/lib/systemd/system/vswitchd.service"
install -D -m 0644 packaging/vswitchd.yaml "$root/etc/vswitch/vswitchd.yaml"
install -D -m 0644 packaging/default "$root/etc/default/vswitchd"
# Completions, as this vswitchctl writes them.
install -d "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
  "$root/usr/share/fish/vendor_completions.d"
"$bin/vswitchctl" completion bash >"$root/usr/share/bash-completion/completions/vswitchctl"
"$bin/vswitchctl" completion zsh >"$root/usr/share/zsh/vendor-completions/_vswitchctl"
"$bin/vswitchctl" completion fish >"$root/usr/share/fish/vendor_completions.d/vswitchctl.fish"
chmod 0644 "$root"/usr/share/*/*completion*/*vswitchctl* "$root/usr/share/zsh/vendor-completions/_vswitchctl"

# Manual pages, from the binaries' own --help texts (dated by the commit,
# as the changelog is, so the same tree gives the same package).
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
install -d "$root/usr/share/man/man1" "$root/usr/share/man/man8"
"$bin/vswitchd" --man >"$root/usr/share/man/man8/vswitchd.8"
"$bin/vswitchctl" man "$root/usr/share/man/man1" >/dev/null
chmod 0644 "$root"/usr/share/man/man*/*
gzip -9n "$root"/usr/share/man/man*/*

install -d "$doc"
for f in operators.md cli.md cni.md; do
  [ -f "docs/$f" ] && install -m 0644 "docs/$f" "$doc/$f"
done
# Policy 12.7: changelog.Debian, compressed with gzip -9n (no name, no
# time: the same tree gives the same package).
{
  echo "vswitch ($debver) unstable; urgency=medium"
  echo
  echo "  * Built from $(git rev-parse --short HEAD 2>/dev/null || echo 'an unknown commit') ($version)."
  echo
  echo " -- $maintainer  $(git log -1 --format=%aD 2>/dev/null || date -R)"
} | gzip -9n >"$doc/changelog.Debian.gz"
packaging/copyright.sh "$bin/vswitchd" "$bin/vswitchctl" "$bin/vswitch-cni" >"$doc/copyright"
chmod 0644 "$doc"/*

install -d "$root/DEBIAN"
install -m 0644 packaging/debian/conffiles "$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do
  install -m 0755 "packaging/debian/$s" "$root/DEBIAN/$s"
done
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$debver/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
  -e "s/^Maintainer: .*/Maintainer: $maintainer/" packaging/debian/control.in >"$root/DEBIAN/control"

mkdir -p "$out"
deb="$out/vswitch_${debver}_${arch}.deb"
dpkg-deb --root-owner-group "-Z${DEB_COMPRESS:-xz}" --build "$root" "$deb" >/dev/null
echo "$deb"
