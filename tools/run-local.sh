#!/usr/bin/env bash
# `make run`: start a local Messenger server with the demo accounts (alice/alice123,
# bob/bob123, charlie/charlie123) and open the app on it. Its data (database, certificate,
# logs) is kept in a folder of its own, "demo-server" under the user data dir, never in the
# default one a real server uses: the demo accounts, whose passwords are in the README, must
# not end up on a LAN server started later (an operator hunt). The server is stopped when the
# app exits. If a Messenger server already serves the port, only the app is opened (and that
# server is left alone).
#
# Environment: PORT (5555; 0 picks a free one), VENV (.venv), SERVER_START_TIMEOUT (seconds, 30),
# DEMO_DATA_DIR (the demo server's folder).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-5555}
VENV=${VENV:-.venv}
HOST=127.0.0.1
MESSENGER="$VENV/bin/messenger"
PYTHON="$VENV/bin/python"
TIMEOUT=${SERVER_START_TIMEOUT:-30}

if [ "$(uname -s)" = Linux ] && [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] \
        && [ -z "${QT_QPA_PLATFORM:-}" ]; then
    echo "make run: no display: neither DISPLAY nor WAYLAND_DISPLAY is set, so the app has" >&2
    echo "nowhere to open its window. On a headless machine, use a virtual X server:" >&2
    echo "    apt-get install xvfb && xvfb-run make run" >&2
    echo "(The server alone needs no display: $MESSENGER --server --demo)" >&2
    exit 1
fi

server_pid=""
workdir=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        echo "make run: stopping the server (pid $server_pid)"
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ -n "$workdir" ]; then rm -rf "$workdir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

status=0
"$PYTHON" tools/probe_server.py "$HOST" "$PORT" || status=$?
case $status in
0)
    echo "make run: a Messenger server already listens on $HOST:$PORT; opening the app only"
    login_hint="log in with an account of that server (its demo accounts only if it was"
    login_hint+=" started with --demo)"
    ;;
1)
    workdir=$(mktemp -d "${TMPDIR:-/tmp}/messenger-run.XXXXXX")
    demo_dir=${DEMO_DATA_DIR:-$("$PYTHON" -c \
        'from messenger import paths; print(paths.data_dir() / "demo-server")')}
    echo "make run: starting the server on $HOST:$PORT (demo accounts alice, bob, charlie;"
    echo "          its data in $demo_dir)"
    "$MESSENGER" --server --demo --host "$HOST" --port "$PORT" --data-dir "$demo_dir" \
        >"$workdir/stdout" 2>"$workdir/stderr" &
    server_pid=$!
    ready=""
    for ((i = 0; i < TIMEOUT * 10; i++)); do
        if grep -q '^listening on ' "$workdir/stdout"; then
            ready=yes
            break
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    if [ -z "$ready" ]; then
        if kill -0 "$server_pid" 2>/dev/null; then
            echo "make run: the server did not report 'listening on' within ${TIMEOUT}s" >&2
        else
            wait "$server_pid" && code=0 || code=$?
            server_pid=""
            echo "make run: the server exited (status $code) before it was ready" >&2
        fi
        echo "---- server output ----" >&2
        cat "$workdir/stdout" "$workdir/stderr" >&2
        exit 1
    fi
    echo "make run: server $(head -n 1 "$workdir/stdout")"
    # The port it took (PORT=0 picks a free one; the app was opened on port 0, which it
    # ignored: an operator hunt).
    PORT=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$workdir/stdout" | head -n 1)
    # (The app asks to trust the server's key the first time: this is the one to compare.)
    fingerprint=$(grep -o 'key SHA-256 [0-9A-F:]*' "$workdir/stderr" | head -n 1 || true)
    if [ -n "$fingerprint" ]; then echo "make run: its $fingerprint"; fi
    login_hint="log in as alice/alice123 or bob/bob123"
    ;;
*)
    echo "make run: port $PORT is taken by something that is not a Messenger server;" >&2
    echo "choose another port: make run PORT=$((PORT + 1))" >&2
    exit 1
    ;;
esac

echo "make run: opening the app ($login_hint)"
app_status=0
"$MESSENGER" --host "$HOST" --port "$PORT" || app_status=$?
exit "$app_status"
