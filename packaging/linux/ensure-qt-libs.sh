#!/usr/bin/env bash
# Qt's X11 platform plugin needs a few xcb libraries that minimal Debian/Ubuntu installs lack.
# Installs them when run as root with apt-get; otherwise prints the command to run.
set -u
needed=(libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
        libxcb-xinerama0 libxcb-shape0 libxkbcommon-x11-0 libegl1 libfontconfig1)
command -v dpkg-query >/dev/null 2>&1 || exit 0
missing=()
for pkg in "${needed[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing the Qt display libraries: ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
else
  echo "The window needs: sudo apt-get install ${missing[*]}" >&2
fi
exit 0
