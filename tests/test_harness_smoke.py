import uuid

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.projects.models import Project

# In file order: a committing test leaves a row behind, and the tests after it still start
# from an empty database, whichever isolation they use.


async def test_schema_is_migrated(session: AsyncSession) -> None:
    tables = (await session.execute(text("SELECT count(*) FROM projects"))).scalar_one()
    assert tables == 0


def _project(name: str) -> Project:
    return Project(
        name=name,
        remote_origin=f"git@example.com:{name}.git",
        remote_origin_normalized=f"example.com/{name}",
    )


async def test_a_committing_test_leaves_its_rows(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        session.add(_project(f"left-{uuid.uuid4().hex[:6]}"))


async def test_a_rolled_back_test_starts_empty_and_its_commits_stay_private(
    session: AsyncSession,
) -> None:
    assert await session.scalar(select(func.count()).select_from(Project)) == 0
    session.add(_project("private"))
    await session.commit()  # releases a savepoint: the outer transaction is rolled back later
    assert await session.scalar(select(func.count()).select_from(Project)) == 1
    outside = await session.connection()
    engine = outside.engine
    async with engine.connect() as other:
        assert await other.scalar(text("SELECT count(*) FROM projects")) == 0


async def test_a_committing_test_starts_empty(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Project)) == 0
