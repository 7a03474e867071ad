#!/bin/sh
# Fails if anything an earlier iteration left behind is visible: every iteration must start
# from the same frozen image and the same code snapshot, whatever ran before it.
set -eu
for leftover in /var/tmp/snaprun-leftover /root/snaprun-leftover ./snaprun-leftover; do
    if [ -e "$leftover" ]; then
        echo "isolation broken: $leftover exists: $(cat "$leftover")"
        exit 1
    fi
done
# Leave traces on the root disk and in the code directory for the next iteration to find.
for leftover in /var/tmp/snaprun-leftover /root/snaprun-leftover ./snaprun-leftover; do
    echo "left by iteration ${SNAPRUN_ITERATION:-?}" >"$leftover"
done
sync
echo "clean start; left traces for the next iteration"
