# Source me: puts the project's venv, the npm Anvil and the solc-js shim on PATH.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$_root/.venv/bin:$_root/tools/anvil:$_root/node_modules/@foundry-rs/anvil-linux-amd64/bin:$PATH"
export SOLCX_BINARY_PATH="$_root/tools/solcx"
export MPLBACKEND=Agg
unset _root
