"""Stage 1, the raw files: manifests, downloads, verification, unpacking, and reading the
verified archives in place (rules ``download_archive``, ``verify_archives``,
``unpack_archives``, ``locate_source``)."""
