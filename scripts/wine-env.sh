# shellcheck shell=sh
# Source this file to get a quiet, private, initialised Wine environment:
#
#   . scripts/wine-env.sh [WINEPREFIX]     # default: build-win/wineprefix
#
# Exports WINEDEBUG, WINEPREFIX, WINEDLLOVERRIDES (and WINEARCH=win64 for a
# new prefix) and runs "wineboot -i" once, so the first test does not pay
# the ~10 s prefix creation.  Works headless (no DISPLAY) and as root.

_safefs_wine_prefix=${1:-build-win/wineprefix}
case $_safefs_wine_prefix in
    /*) ;;
    *) _safefs_wine_prefix=$(pwd)/$_safefs_wine_prefix ;;
esac

export WINEDEBUG=-all
export WINEPREFIX="$_safefs_wine_prefix"
# Empty override = disabled: no Mono/Gecko download/installer prompts.
export WINEDLLOVERRIDES="mscoree,mshtml="
# Pick the 64-bit loader (Debian bookworm's /usr/bin/wine wrapper prefers a
# wine32 that is usually absent).
if command -v wine64 >/dev/null 2>&1; then
    SAFEFS_WINE=$(command -v wine64)
elif [ -x /usr/lib/wine/wine64 ]; then
    SAFEFS_WINE=/usr/lib/wine/wine64
else
    SAFEFS_WINE=$(command -v wine || true)
fi
export SAFEFS_WINE

if [ -z "$SAFEFS_WINE" ]; then
    echo "wine-env.sh: wine not found" >&2
else
    # Wine refuses a prefix not owned by the current user, so keep it private.
    if [ ! -f "$WINEPREFIX/system.reg" ]; then
        mkdir -p "$WINEPREFIX"
        export WINEARCH=win64
        echo "wine-env.sh: initialising $WINEPREFIX ..." >&2
        _safefs_wine_t0=$(date +%s)
        # No display needed: without DISPLAY wineboot runs fully headless.
        env -u DISPLAY -u WAYLAND_DISPLAY "$SAFEFS_WINE" wineboot -i \
            >/dev/null 2>&1 || echo "wine-env.sh: wineboot -i failed" >&2
        # Wait until wineserver has flushed the registry to disk.
        if command -v wineserver >/dev/null 2>&1; then
            wineserver -w 2>/dev/null || true
        fi
        echo "wine-env.sh: prefix ready in $(( $(date +%s) - _safefs_wine_t0 )) s" >&2
        unset _safefs_wine_t0
    fi
fi
unset _safefs_wine_prefix
