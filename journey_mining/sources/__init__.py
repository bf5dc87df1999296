"""Landing readers: one module per export shape, each returning rows and rejects.

Every reader yields :class:`ReadResult` batches whose ``rows`` have exactly the columns of a
``raw`` table and whose ``rejects`` name the file, the line and the reason.
"""

from journey_mining.sources._common import (
    KEY_COLUMNS,
    RAW_COLUMNS,
    REJECT_SCHEMA,
    LandingFileError,
    ReadResult,
)
from journey_mining.sources.registry import (
    SHAPES,
    LandingFile,
    Shape,
    detect,
    landing_files,
    read_batches,
    read_landing,
)

__all__ = [
    "KEY_COLUMNS",
    "RAW_COLUMNS",
    "REJECT_SCHEMA",
    "SHAPES",
    "LandingFile",
    "LandingFileError",
    "ReadResult",
    "Shape",
    "detect",
    "landing_files",
    "read_batches",
    "read_landing",
]
