#!/usr/bin/env bash
# Build Easel.app and dist/Easel-<version>-macos-arm64.dmg on an Apple Silicon Mac.
#
# Usage: packaging/build_macos.sh   (uses .venv/bin/python unless PY is set; make setup first,
#        plus the package extra: python3 scripts/bootstrap.py --extras package)
#   EASEL_CLEAN=1                    rebuild from scratch (PyInstaller's --clean)
#   EASEL_CODESIGN_IDENTITY="Developer ID Application: Name (TEAMID)"
#                                    sign for distribution (hardened runtime, timestamp)
#                                    instead of ad hoc; then notarise, see below.
#
# Ad-hoc signing (the default) is what Apple Silicon requires for any code to run at all. An
# ad-hoc signed app downloaded from the internet is quarantined: people open it the first time
# with right-click > Open (or System Settings > Privacy & Security > Open Anyway).
#
# Notarisation, for an app that opens with a plain double-click (needs a paid Apple Developer
# account; run after this script with EASEL_CODESIGN_IDENTITY set):
#   1. Store credentials once:
#        xcrun notarytool store-credentials easel-notary \
#            --apple-id you@example.com --team-id TEAMID --password <app-specific password>
#   2. Submit the dmg and wait for Apple's verdict (minutes):
#        xcrun notarytool submit dist/Easel-<version>-macos-arm64.dmg \
#            --keychain-profile easel-notary --wait
#      On "Invalid", read why: xcrun notarytool log <submission id> --keychain-profile easel-notary
#   3. Staple the ticket so the app opens offline too, and check:
#        xcrun stapler staple dist/Easel-<version>-macos-arm64.dmg
#        spctl --assess --type open --context context:primary-signature -v dist/Easel-*.dmg
# In CI the same steps run with the certificate imported into a temporary keychain
# (secrets: the .p12 and its password, the Apple ID app password); see release.yml.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if [[ "$(uname -s)" != Darwin || "$(uname -m)" != arm64 ]]; then
    echo "build_macos.sh builds the Apple Silicon app; run it on an arm64 Mac." >&2
    exit 1
fi
VERSION=$("$PY" -c 'import app; print(app.__version__)')
APP=dist/Easel.app
DMG="dist/Easel-${VERSION}-macos-arm64.dmg"
IDENTITY=${EASEL_CODESIGN_IDENTITY:--}

args=(--noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller)
[[ "${EASEL_CLEAN:-0}" == 1 ]] && args+=(--clean)
"$PY" -m PyInstaller "${args[@]}" packaging/easel.spec

# Sign the whole bundle (PyInstaller signed each binary ad hoc; the bundle seal comes last).
if [[ "$IDENTITY" == "-" ]]; then
    codesign --force --deep --sign - "$APP"
else
    codesign --force --deep --timestamp --options runtime \
        --entitlements packaging/entitlements.plist --sign "$IDENTITY" "$APP"
fi

# The self-test must pass on the signed app; verifying the seal afterwards also proves the
# app wrote nothing inside itself while it ran.
"$APP/Contents/MacOS/Easel" --selftest
codesign --verify --deep --strict --verbose=2 "$APP"

# The disk image: the app next to a link to /Applications, for drag-to-install.
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
rm -f "$DMG"
hdiutil create -volname "Easel ${VERSION}" -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$DMG"
if [[ "$IDENTITY" != "-" ]]; then
    codesign --force --timestamp --sign "$IDENTITY" "$DMG"
fi
hdiutil verify "$DMG"
du -sh "$APP" "$DMG"
