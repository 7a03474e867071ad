#!/bin/sh
# A real lost-update race: two processes each add 1 to a shared counter file, without a lock,
# a number of times. Each increment is read-then-write, and between increments each process
# naps. When one process wakes up and runs between the other's read and its write, one
# increment overwrites the other and the total comes out short. Whether that happens depends on
# timing, so the test fails some of the time, not always: a typical flaky test.
#
# The number of rounds and the stagger come from SNAPRUN_SEED (set by snaprun for every
# iteration), so a failing iteration re-run with `snaprun repro` does the same work again and
# is likely, though not certain, to fail again.
set -eu
seed=${SNAPRUN_SEED:-$$}
# The seed is a 64-bit number, too big for shell arithmetic: use its last four digits.
rounds=$(echo "$seed" | awk '{ print 4 + substr($0, length($0) - 3) % 12 }')
# How long the second writer starts behind the first, in turns of a busy loop.
stagger=$(echo "$seed" | awk '{ print substr($0, length($0) - 6, 3) % 300 }')
counter=$(mktemp)
echo 0 >"$counter"

add() {
    i=0
    while [ "$i" -lt "$rounds" ]; do
        read -r v <"$counter"
        echo $((v + 1)) >"$counter"
        sleep 0.05
        i=$((i + 1))
    done
}

add &
# The second writer starts a little later, so the two usually take turns; the race bites when
# the stagger is small or scheduling jitter lines their read-modify-write windows up.
j=0
while [ "$j" -lt "$stagger" ]; do j=$((j + 1)); done
add &
wait
read -r total <"$counter"
rm -f "$counter"
expected=$((2 * rounds))
if [ "$total" -ne "$expected" ]; then
    echo "lost updates: counter is $total, expected $expected ($((expected - total)) lost)"
    exit 1
fi
echo "ok: counter is $total after $rounds rounds in each of two processes"
