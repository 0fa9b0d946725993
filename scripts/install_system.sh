#!/usr/bin/env bash
# Debian runtime libraries the project needs: EGL/Mesa for offscreen MuJoCo rendering, the FFmpeg
# shared libraries that torchcodec loads, and Chromium for the browser test of `value_labeling annotate`
# (Playwright drives /usr/bin/chromium; no browser is downloaded). Installed only when running as root and only when missing,
# so `make install` stays fast and never asks for a password.
set -euo pipefail
pkgs=(libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 libavcodec59 libavformat59 libavutil57 libswscale6 libswresample4 libavdevice59 libavfilter8 chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "note: missing Debian packages (${missing[*]}); install them as root for offscreen rendering and torchcodec" >&2
  exit 0
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
