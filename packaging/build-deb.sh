#!/usr/bin/env bash
# Builds the Debian package from this checkout and checks it with lintian.
#   packaging/build-deb.sh [OUTDIR]     (default: ./build-deb)
# The source tree is copied (files git tracks or would track) so debian/ never lands in
# the checkout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$root/build-deb}" && cd "${1:-$root/build-deb}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src="$work/byed-0.1.0"
mkdir -p "$src"
(cd "$root" && git ls-files -z --cached --others --exclude-standard |
  xargs -0 cp --parents -t "$src")
cp -r "$root/packaging/debian" "$src/debian"
(cd "$src" && dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) || {
  tail -40 "$work/build.log"
  exit 1
}
cp "$work"/*.deb "$out"/
deb=$(ls "$out"/byed_*.deb | tail -1)
echo "built $deb"
# Errors fail the build; warnings and info are printed (see README).
lintian --fail-on error --tag-display-limit 0 "$deb"
# What the package must hold, and that its binary runs.
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/byed ./usr/share/man/man1/byed.1.gz \
  ./usr/share/doc/byed/examples/myapp.service \
  ./usr/share/doc/byed/examples/myapp.socket \
  ./usr/share/doc/byed/examples/deployment.yaml; do
  grep -q " $f$" <<<"$contents" || { echo "missing from package: $f"; exit 1; }
done
x="$work/x"
dpkg-deb -x "$deb" "$x"
"$x/usr/bin/byed" --version
if ldd "$x/usr/bin/byed" >/dev/null 2>&1; then
  echo "packaged byed is not static"; exit 1
fi
echo "package ok"
