# Sourced by scripts that keep a virtualenv of their own (testproject/run-demo.sh,
# .ci/docs.sh): make it once, and reinstall only when what it was made from
# changed, saying what it does while it does it.
#
#   source .ci/venv.sh
#   ensure_venv PYTHON VENV LABEL PIP_INSTALL_ARGS...
#
# The stamp file VENV/.symphra-stamp holds a hash of the interpreter, the
# pip arguments and pyproject.toml; when it matches, nothing is installed.

ensure_venv() {
    local python="$1" venv="$2" label="$3"
    shift 3
    local root stamp wanted
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    stamp="$venv/.symphra-stamp"
    wanted="$({ "$python" -VV; printf '%s\n' "$@"; cat "$root/pyproject.toml"; } | sha256sum | cut -d' ' -f1)"
    if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
        echo "$label: $venv is up to date"
        return 0
    fi
    if [ ! -x "$venv/bin/python" ]; then
        echo "$label: creating the virtualenv $venv ..."
        "$python" -m venv "$venv"
    fi
    echo "$label: installing $* into $venv (a minute the first time) ..."
    rm -f "$stamp"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
    echo "$wanted" >"$stamp"
    echo "$label: virtualenv ready"
}
