#!/bin/sh
# User-space instructions per echoed message, corering's server against
# tokio's, counted by callgrind (whatever else the machine does; the
# kernel's work is not counted). corering's figure moves by a few percent
# between runs, since how many messages share a tick depends on timing.
# examples/echo_client drives each server in turn from CPU 1.
#
# corering runs as examples/echo (one thread: valgrind serialises threads
# and holds its lock across io_uring_enter, so corering's server cannot run
# as a thread beside others under it); tokio as the echo bench's server
# (`--serve tokio`). Both echo the way benches/echo.rs does.
#
# Usage: benches/tools/callgrind-echo.sh [CONNS] [MSGS_PER_CONN] [SIZE]
#        (default 16 2000 64)
set -eu
conns=${1:-16}
msgs=${2:-2000}
size=${3:-64}
cargo build --release --example echo --example echo_client 2>/dev/null
bench=$(cargo bench --bench echo --no-run 2>&1 | grep -o 'target/release/deps/echo-[0-9a-f]*' | head -1)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for server in corering tokio; do
    if [ "$server" = corering ]; then
        set -- "${ECHO:-target/release/examples/echo}" --addr 127.0.0.1:0
    else
        set -- "$bench" --serve tokio
    fi
    valgrind --tool=callgrind --callgrind-out-file="$out/$server" "$@" >"$out/$server.log" 2>&1 &
    pid=$!
    addr=
    for _ in $(seq 1 100); do
        addr=$(sed -n 's/^listening on //p' "$out/$server.log")
        [ -n "$addr" ] && break
        sleep 0.2
    done
    [ -n "$addr" ] || { echo "$server did not start"; exit 1; }
    callgrind_control -z "$pid" >/dev/null 2>&1 # count from here
    target/release/examples/echo_client --addr "$addr" --conns "$conns" --msgs "$msgs" \
        --size "$size" --cpu 1 >/dev/null
    callgrind_control -d "$pid" >/dev/null 2>&1 # dump to $server.1
    kill -9 "$pid" # valgrind delivers signals only between syscalls
    wait "$pid" 2>/dev/null || true
    ir=$(callgrind_annotate "$out/$server.1" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
    echo "$server: $((ir / (conns * msgs))) instructions per message ($ir for $((conns * msgs)) messages of $size B over $conns connections)"
done
