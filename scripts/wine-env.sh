# shellcheck shell=sh
# Source this file (right before running ctest) to get a quiet, private,
# initialised and warmed-up Wine environment:
#
#   . scripts/wine-env.sh [WINEPREFIX]     # default: build-win/wineprefix
#
# (dash ignores arguments to ".": use SAFEFS_WINEPREFIX=dir there.)
#
# Exports WINEDEBUG=-all, WINEPREFIX (absolute), WINEARCH=win64,
# WINEDLLOVERRIDES (no Mono/Gecko installer prompts) and SAFEFS_WINE (the
# 64-bit loader).  Creates the prefix once ("wineboot -i", ~10-15 s), then
# starts a wineserver that stays alive SAFEFS_WINE_PERSIST seconds (default
# 600) after the last Windows process exits, together with Wine's system
# processes (services.exe, explorer.exe, ...) whose stdio goes to /dev/null.
#
# Why the warm-up: without it every test .exe cold-starts wineserver and the
# system processes (~2.5 s per test), and those processes inherit ctest's
# output pipe, so ctest waits for them to exit.  Warmed up, a test takes
# ~0.05 s.  SAFEFS_WINE_PERSIST=0 disables it.  Stop the server early with
# "wineserver -k".  Works headless (no DISPLAY) and as root.

_safefs_wine_prefix=${1:-${SAFEFS_WINEPREFIX:-build-win/wineprefix}}
case $_safefs_wine_prefix in
    /*) ;;
    *) _safefs_wine_prefix=$(pwd)/$_safefs_wine_prefix ;;
esac

export WINEDEBUG=-all
export WINEPREFIX="$_safefs_wine_prefix"
export WINEARCH=win64
# Empty override = disabled: no Mono/Gecko download/installer prompts.
export WINEDLLOVERRIDES="mscoree,mshtml="

# Prefer the 64-bit loader: Debian bookworm's /usr/bin/wine wrapper prefers a
# wine32 that is usually not installed (and prints a hint about it).
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
    # The wineserver next to the loader (the loader itself uses that one).
    if [ -x "$(dirname "$SAFEFS_WINE")/wineserver" ]; then
        _safefs_wineserver=$(dirname "$SAFEFS_WINE")/wineserver
    else
        _safefs_wineserver=$(command -v wineserver || echo wineserver)
    fi
    # Wine refuses a prefix not owned by the current user, so keep it private.
    mkdir -p "$WINEPREFIX"
    _safefs_wine_persist=${SAFEFS_WINE_PERSIST:-600}
    if [ "$_safefs_wine_persist" != 0 ]; then
        # Fails harmlessly if a server for this prefix is already running.
        "$_safefs_wineserver" "-p$_safefs_wine_persist" >/dev/null 2>&1 || true
    fi
    _safefs_wine_t0=$(date +%s)
    if [ ! -f "$WINEPREFIX/system.reg" ]; then
        echo "wine-env.sh: initialising $WINEPREFIX ..." >&2
        env -u DISPLAY -u WAYLAND_DISPLAY "$SAFEFS_WINE" wineboot -i \
            </dev/null >/dev/null 2>&1 || echo "wine-env.sh: wineboot -i failed" >&2
        if [ "$_safefs_wine_persist" = 0 ]; then
            # Wait until wineserver has flushed the registry and exited.
            "$_safefs_wineserver" -w >/dev/null 2>&1 || true
        fi
        echo "wine-env.sh: prefix ready in $(( $(date +%s) - _safefs_wine_t0 )) s" >&2
    elif [ "$_safefs_wine_persist" != 0 ]; then
        # Start the system processes now, outside ctest, with stdio detached.
        "$SAFEFS_WINE" cmd /c exit </dev/null >/dev/null 2>&1 || true
    fi
    unset _safefs_wine_t0 _safefs_wine_persist _safefs_wineserver
fi
unset _safefs_wine_prefix
