#!/usr/bin/env bash
# Make sure the servers of DESIGN.md section 8 are up: start any that is down,
# wait for it, and fail loudly if one cannot be reached.
set -uo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # name port seconds
    local i
    for ((i = 0; i < $3 * 4; i++)); do
        up "$2" && return 0
        sleep 0.25
    done
    echo "FATAL: $1 is not reachable on 127.0.0.1:$2 after $3s" >&2
    return 1
}

start() {  # name port command...
    local name=$1 port=$2
    shift 2
    if up "$port"; then
        echo "services: $name is up on $port"
        return 0
    fi
    echo "services: $name is down; starting it"
    "$@" || echo "services: starting $name returned $?" >&2
    wait_for "$name" "$port" 90
}

status=0
start postgresql 5432 pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || status=1
start mariadb 3306 start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || status=1
start redis 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || status=1
start rabbitmq 5672 rabbitmq-server -detached || status=1
if [ "$status" -eq 0 ] && command -v rabbitmqctl >/dev/null; then
    timeout 120 rabbitmqctl await_startup >/dev/null 2>&1 || { echo "FATAL: rabbitmq did not finish starting" >&2; status=1; }
fi
exit "$status"
