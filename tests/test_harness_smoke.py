from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def test_schema_is_migrated(session: AsyncSession) -> None:
    tables = (await session.execute(text("SELECT count(*) FROM projects"))).scalar_one()
    assert tables == 0
