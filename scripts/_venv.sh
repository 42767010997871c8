# Sourced by scripts/demo and scripts/test: find Python 3.11+, create .venv, install breachkit into it.
#   ensure_venv ""       → breachkit
#   ensure_venv "[dev]"  → breachkit with the development extras
ensure_venv() {
    local extras="$1" candidate python=""
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            python="$(command -v "$candidate")"
            break
        fi
    done
    if [[ -z "$python" ]]; then
        echo "error: Python 3.11 or newer is needed (tried python3.13 … python3)." >&2
        exit 2
    fi
    if [[ ! -x .venv/bin/python ]]; then
        echo "creating .venv with $python"
        "$python" -m venv .venv
    fi
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}"
    export PATH="$PWD/.venv/bin:$PATH"
}
