#!/bin/sh
# The Web UI test drives Debian's Chromium through playwright-core (which brings no browser of its
# own). Install it once when missing; needs root (as on this kind of machine) and Debian's packages.
set -e
command -v chromium >/dev/null 2>&1 && exit 0
echo "sandbox: installing Debian's chromium for the Web UI test" >&2
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
