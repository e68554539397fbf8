"""The ASGI application: Exact's OAuth endpoints and REST API, the control API, and fault injection.

Wiring only: routes in :mod:`.urls`, handlers in :mod:`.handlers`, ASGI layers in :mod:`.middleware`, state in
:mod:`.state`.
"""

from __future__ import annotations

from starlette.applications import Starlette

from .config import EmulatorConfig
from .control import Control
from .handlers import Handlers
from .middleware import TRANSPORT, ClockDateLayer, FaultLayer, HostGuard
from .state import EmulatorState
from .urls import routes

__all__ = ["TRANSPORT", "create_app"]


def create_app(config: EmulatorConfig | EmulatorState | None = None) -> Starlette:
    """Build the emulator app. ``app.state.emulator`` is the :class:`EmulatorState`; ``app.state.control``
    the :class:`Control` handle."""
    state = config if isinstance(config, EmulatorState) else EmulatorState(config)
    control = Control(state)
    app = Starlette(routes=routes(Handlers(state, control)))
    app.add_middleware(FaultLayer, state=state)
    app.add_middleware(HostGuard, state=state)
    app.add_middleware(ClockDateLayer, state=state)
    app.state.emulator = state
    app.state.control = control
    return app
