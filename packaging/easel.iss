; Inno Setup 6 script: Easel's per-user Windows installer (no administrator rights needed).
; Built by packaging\build_windows.ps1 from the PyInstaller folder dist\Easel:
;   ISCC.exe /DAppVersion=0.1.0 packaging\easel.iss
; Installs to %LOCALAPPDATA%\Programs\Easel, adds a Start-menu shortcut (and, if ticked, a
; desktop one) and registers an uninstaller under Settings > Apps. Uninstalling removes the
; program only: the gallery (Pictures\Easel), settings and downloaded models are the
; user's and stay.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#define AppName "Easel"
#define AppExe "Easel.exe"

[Setup]
; The AppId identifies the app across versions (upgrades replace, the uninstaller finds it):
; never change it.
AppId={{E12C6196-DC8B-4B25-BACD-68F7FEDFF95C}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Easel
VersionInfoVersion={#AppVersion}
; Per user: {autopf} is %LOCALAPPDATA%\Programs and {autoprograms} the user's Start menu.
PrivilegesRequired=lowest
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
SourceDir=..
OutputDir=dist
OutputBaseFilename=Easel-{#AppVersion}-windows-x64-Setup
SetupIconFile=resources\icons\easel.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
Uninstallable=yes
; torch's DLLs compress well with LZMA2; solid compression is slower to build, smaller to ship.
Compression=lzma2/max
SolidCompression=yes
LZMANumBlockThreads=4
WizardStyle=modern
CloseApplications=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "dist\Easel\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; An upgrade replaces the whole program folder, so no file of an older version lingers.
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Create images with Stable Diffusion"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; The app writes nothing here, but a crash dump or an older version's stray file may.
Type: filesandordirs; Name: "{app}\_internal"
