# shellcheck shell=bash
# The one environment every tidesync script (and a developer's shell) uses.
#   source scripts/env.sh
# It picks the Rust toolchain that has a wasm32 standard library, points the
# test runners at the installed browser drivers and puts the npm tools on PATH.
# scripts/setup installs everything named here; this file only describes it.

TIDESYNC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TIDESYNC_ROOT
export TIDESYNC_CACHE="${TIDESYNC_CACHE:-$HOME/.cache/tidesync}"
export WASM_BINDGEN_VERSION=0.2.130
export WASM_PACK_VERSION=0.15.1
export GECKODRIVER_VERSION=0.37.1

# Toolchain. Where rustup already has the wasm32 target, use rustup's toolchain.
# Otherwise use Debian's rust-web toolchain, whose sysroot receives a wasm32 std
# built once by scripts/setup. Never mix the two: clippy and rustdoc refuse
# crates built by another rustc.
tidesync_debian_std() {
  compgen -G '/usr/lib/rustlib/wasm32-unknown-unknown/lib/libstd-*.rlib' >/dev/null
}
tidesync_rustup_std() {
  command -v rustup >/dev/null 2>&1 &&
    rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown
}
# TIDESYNC_FORCE_DEBIAN=1 forces Debian's toolchain (to test that path).
if [ "${TIDESYNC_FORCE_DEBIAN:-0}" != 1 ] && tidesync_rustup_std; then
  export TIDESYNC_TOOLCHAIN=rustup
elif [ -x /usr/bin/rustc ] && tidesync_debian_std; then
  export TIDESYNC_TOOLCHAIN=debian
  export PATH="/usr/bin:$HOME/.cargo/bin:$PATH"
  export RUSTC=/usr/bin/rustc
  export RUSTDOC=/usr/bin/rustdoc
else
  export TIDESYNC_TOOLCHAIN=none
fi
export RUSTUP_AUTO_INSTALL=0
case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) export PATH="$PATH:$HOME/.cargo/bin" ;; esac

# npm dev tools (wasm-opt from binaryen, tsc, playwright-core) live in tests/.
export PATH="$TIDESYNC_ROOT/tests/node_modules/.bin:$PATH"

# Browsers and drivers. wasm-bindgen-test-runner takes the first of
# GECKODRIVER, SAFARIDRIVER, CHROMEDRIVER it finds set, so none is exported
# here; `tidesync_browser_test chrome|firefox|webkit [cargo args]` sets one.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export TIDESYNC_CHROMEDRIVER=/usr/bin/chromedriver
export TIDESYNC_GECKODRIVER="$HOME/.cargo/bin/geckodriver"
export TIDESYNC_WEBKITDRIVER=/usr/bin/WebKitWebDriver
export CHROMIUM_BIN=/usr/bin/chromium
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-900}"

tidesync_browser_test() {
  local browser="$1"; shift
  case "$browser" in
    chrome) env -u GECKODRIVER -u SAFARIDRIVER CHROMEDRIVER="$TIDESYNC_CHROMEDRIVER" \
              cargo test --target wasm32-unknown-unknown --features testing "$@" ;;
    firefox) env -u CHROMEDRIVER -u SAFARIDRIVER GECKODRIVER="$TIDESYNC_GECKODRIVER" \
              cargo test --target wasm32-unknown-unknown --features testing "$@" ;;
    webkit) env -u CHROMEDRIVER -u GECKODRIVER SAFARIDRIVER="$TIDESYNC_WEBKITDRIVER" \
              xvfb-run -a cargo test --target wasm32-unknown-unknown --features testing "$@" ;;
    *) echo "tidesync_browser_test: browser must be chrome, firefox or webkit" >&2; return 2 ;;
  esac
}
