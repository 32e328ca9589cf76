import pytest

from imi.errors import ValidationFailed
from imi.projects.origin import normalize_remote_origin, repository_name, strip_credentials

EQUIVALENT = [
    "git@github.com:acme/widget.git",
    "git@github.com:acme/widget",
    "https://github.com/acme/widget",
    "https://github.com/acme/widget.git",
    "https://GitHub.com/Acme/Widget/",
    "ssh://git@github.com/acme/widget.git",
    "ssh://git@github.com:22/acme/widget.git",
    "git://github.com/acme/widget.git",
    "https://someone:token@github.com/acme/widget.git",
    "  git@github.com:acme/widget.git  ",
    # www.github.com serves the same repositories as github.com
    "https://www.github.com/acme/widget",
    "git@www.github.com:acme/widget.git",
    "ssh://git@WWW.github.com/acme/widget.git",
]


@pytest.mark.parametrize("origin", EQUIVALENT)
def test_equivalent_spellings_normalize_to_one_identity(origin: str) -> None:
    assert normalize_remote_origin(origin) == "github.com/acme/widget"


def test_file_remotes_keep_case_and_drop_git_suffix() -> None:
    assert normalize_remote_origin("file:///srv/Git/Widget.git") == "file:///srv/Git/Widget"
    assert normalize_remote_origin("file://localhost/srv/x/") == "file:///srv/x"


def test_nested_groups_are_kept() -> None:
    assert (
        normalize_remote_origin("git@gitlab.com:group/sub/repo.git") == "gitlab.com/group/sub/repo"
    )


@pytest.mark.parametrize(
    "origin",
    [
        "",
        "   ",
        "not a url",
        "github.com/acme/widget",
        "ftp://github.com/acme/widget",
        "http://github.com/acme/widget",
        "https://github.com/",
        "https:///acme/widget",
        "git@github.com:",
        "file://otherhost/srv/x",
        "https://github.com:notaport/acme/widget",
        "https://github.com/acme/widget?x=1",
        "https://github.com/../widget",
        "git@bad_host!:acme/widget",
        "https://[abc/acme/widget",  # urlsplit's "Invalid IPv6 URL" was a 500
        "ssh://git@[::1/acme/widget",
    ],
)
def test_invalid_origins_are_rejected_naming_the_field(origin: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        normalize_remote_origin(origin)
    assert exc.value.field == "remote_origin"
    assert exc.value.details["constraint"]


def test_repository_name_and_credentials() -> None:
    assert repository_name("github.com/acme/widget") == "widget"
    assert (
        strip_credentials("https://bot:s3cret@github.com/a/b.git") == "https://github.com/a/b.git"
    )
    assert strip_credentials("https://ghp_TOKEN@github.com/a/b.git") == "https://github.com/a/b.git"
    assert strip_credentials("ssh://git:pw@host/a/b.git") == "ssh://git@host/a/b.git"
    assert strip_credentials("ssh://git@host/a/b.git") == "ssh://git@host/a/b.git"
    assert strip_credentials("git@github.com:a/b.git") == "git@github.com:a/b.git"
