"""OCC's exports beside its imports: abortExportProcess and getExportProcess."""
