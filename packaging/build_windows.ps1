# Build Easel for Windows: dist\Easel\Easel.exe (one folder, windowed) and the per-user
# installer dist\Easel-<version>-windows-x64-Setup.exe (Inno Setup 6).
#
# Usage (PowerShell, from anywhere):  packaging\build_windows.ps1
#   $env:PY          the Python to build with (default .venv\Scripts\python.exe, made by
#                    python scripts\bootstrap.py --extras package)
#   $env:EASEL_CLEAN "1" rebuilds from scratch (PyInstaller's --clean)
# Needs Inno Setup 6 (choco install innosetup, or https://jrsoftware.org/isinfo.php).
# The installer is unsigned; to sign it, run signtool on Easel.exe before the Inno Setup step
# and on the Setup.exe after it (a code-signing certificate avoids SmartScreen's warning).
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..")

$Py = if ($env:PY) { $env:PY } else { ".venv\Scripts\python.exe" }
$Version = (& $Py -c "import app; print(app.__version__)").Trim()
if ($LASTEXITCODE -ne 0) { throw "Could not read Easel's version with $Py." }

$pyiArgs = @("--noconfirm", "--log-level", "WARN", "--distpath", "dist", "--workpath", "build\pyinstaller")
if ($env:EASEL_CLEAN -eq "1") { $pyiArgs += "--clean" }
& $Py -m PyInstaller @pyiArgs packaging\easel.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed." }

# Easel.exe is a windowed program: PowerShell does not wait for it, so Start-Process -Wait
# does, and its output is redirected to files (a windowed program has no console).
New-Item -ItemType Directory -Force build | Out-Null
$selftest = Start-Process -FilePath "dist\Easel\Easel.exe" -ArgumentList "--selftest" `
    -Wait -PassThru -NoNewWindow `
    -RedirectStandardOutput "build\selftest.out" -RedirectStandardError "build\selftest.err"
Get-Content "build\selftest.out", "build\selftest.err"
if ($selftest.ExitCode -ne 0) { throw "The frozen app's self-test failed (exit $($selftest.ExitCode))." }

$iscc = (Get-Command iscc.exe -ErrorAction SilentlyContinue).Source
if (-not $iscc) { $iscc = Join-Path ${env:ProgramFiles(x86)} "Inno Setup 6\ISCC.exe" }
if (-not (Test-Path $iscc)) { throw "Inno Setup 6 is not installed (choco install innosetup)." }
& $iscc "/DAppVersion=$Version" packaging\easel.iss
if ($LASTEXITCODE -ne 0) { throw "Inno Setup failed." }

$setup = "dist\Easel-$Version-windows-x64-Setup.exe"
"{0}: {1:N0} MB" -f $setup, ((Get-Item $setup).Length / 1MB)
