"""All file I/O: transcripts, label files, the run store, result files, the client-data link."""
