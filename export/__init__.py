"""Static images (kaleido + Chromium), data writers, file names and the command line (``python -m export``)."""
