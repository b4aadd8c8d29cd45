"""Model files on disk: catalog, downloads, the hub cache, one registry of kinds, import and
safe loading. No Qt; torch and diffusers only inside functions, so the window can import it
at start-up."""
