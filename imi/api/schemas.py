"""REST response shapes: they live in ``imi.compat.shapes``, shared with the MCP adapter."""

from imi.compat.shapes import GitStateOut as GitStateOut
from imi.compat.shapes import ProjectMatchOut as ProjectMatchOut
from imi.compat.shapes import ProjectOut as ProjectOut
from imi.compat.shapes import WorkItemOut as WorkItemOut
from imi.compat.shapes import WorktreeCounts as WorktreeCounts
