import pathlib

import pytest

from tests.desktop.harness import App, Dirs, Display


@pytest.fixture(scope="session")
def display():
    d = Display()
    yield d
    d.close()


@pytest.fixture
def dirs(tmp_path: pathlib.Path) -> Dirs:
    return Dirs(tmp_path)


@pytest.fixture
def start_app(display, dirs, request):
    """Starts the app (`start_app()`, again after a quit for a restart); quits what is left."""
    apps: list[App] = []

    def start(**env: str) -> App:
        app = App(display, dirs, f"{request.node.name}-{len(apps) + 1}", env or None)
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.quit()
    left = [p for app in apps for p in app.leftovers]
    assert left == [], f"left running after the app quit: {left}"
