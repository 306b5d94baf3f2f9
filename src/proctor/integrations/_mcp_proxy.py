"""``McpProxy``: a governing MCP server in front of MCP servers (``proctor mcp proxy``).

Any MCP client (a desktop assistant, an IDE or coding agent) keeps its configuration but
for the server entry, which now launches the proxy. The proxy lists the upstream tools
(namespaced, minus what the contract forbids) and passes every call through an
``AgentSession``: a client's session is a run, split when the client has been idle for
``idle_gap_s``. A call that needs approval is put to the person in their own client
(MCP elicitation) when the client supports it, the person recorded as the approver;
otherwise the call answers with an error naming the approval and where to decide it, and
the client's repeated call proceeds once it is decided.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from proctor.contracts import Contract
from proctor.errors import ProctorError, UsageError
from proctor.integrations._mcp_tools import McpTools
from proctor.integrations._session import AgentSession, CallOutcome
from proctor.runtime import Workflow, decide_approval
from proctor.store import EvidenceKeys, Store

if TYPE_CHECKING:
    import mcp_types
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server

logger = logging.getLogger("proctor.mcp")

_ANSWER = "approval"  # the key of the person's answer among a retried call's input responses
_QUESTION = {
    "type": "object",
    "properties": {
        "approve": {"type": "boolean", "title": "Approve this call?"},
        "reason": {"type": "string", "title": "Reason (required to deny)"},
    },
    "required": ["approve"],
}


@dataclass(slots=True)
class _Connection:
    session: AgentSession
    last_call: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class McpProxy:
    """The governing MCP server (see the module's docstring): in front of MCP servers
    (``McpTools``), or of a workflow's own tools (``McpProxy.for_workflow``)."""

    def __init__(
        self,
        store: Store,
        contract: Contract,
        tools: McpTools | None = None,
        *,
        workflow: Workflow | None = None,
        idle_gap_s: float = 1800.0,
        approver: str | None = None,
        tenant: str = "default",
        input: dict[str, Any] | None = None,
        keys: EvidenceKeys | None = None,
        clock: Any = time.monotonic,
    ) -> None:
        """``approver`` is who approves in the client (elicitation); ``None``: approvals
        are decided elsewhere (the web UI, ``proctor approve``). ``input`` is each
        session run's input (with the client's name under ``client``)."""
        if (tools is None) == (workflow is None):
            raise UsageError("McpProxy governs either MCP servers' tools or a workflow's")
        self.store = store
        self.contract = contract
        self.tools = tools
        self.idle_gap_s = idle_gap_s
        self.approver = approver
        self.tenant = tenant
        self.input = dict(input or {})
        self.keys = keys
        self._clock = clock
        if workflow is None:
            assert tools is not None
            workflow = Workflow(
                name=contract.workflow,
                registry=tools.registry,
                contract=contract,
                instructions=(
                    "An MCP client's session through proctor mcp proxy: each model turn is "
                    "the client's next tool call."
                ),
                default_model="agent:mcp",
            )
        self.workflow = workflow
        self._connections: dict[str, _Connection] = {}
        self.server = self._build()

    @classmethod
    def for_workflow(cls, store: Store, workflow: Workflow, **options: Any) -> McpProxy:
        """An MCP server offering ``workflow``'s own tools, governed by its contract
        (``proctor mcp serve``)."""
        return cls(store, workflow.contract, workflow=workflow, **options)

    def _build(self) -> Server[Any]:
        from mcp.server.lowlevel import Server

        return Server(
            "proctor-proxy",
            instructions=f"Tools governed by Proctor under the {self.contract.workflow} contract",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )

    # --- MCP handlers -------------------------------------------------------------------

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: Any
    ) -> mcp_types.ListToolsResult:
        from mcp_types import ListToolsResult, Tool

        shown = []
        if self.tools is not None:
            for name, imported in self.tools.imported.items():
                if self._may_list(name):
                    listing = imported.listing
                    shown.append(
                        Tool(
                            name=name,
                            title=listing.title,
                            description=listing.description,
                            input_schema=listing.input_schema,
                            output_schema=listing.output_schema,
                        )
                    )
        else:
            for tool in self.workflow.registry:
                if self._may_list(tool.name):
                    shown.append(
                        Tool(
                            name=tool.name,
                            description=tool.description,
                            input_schema=tool.parameters,
                        )
                    )
        return ListToolsResult(tools=shown)

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: mcp_types.CallToolRequestParams
    ) -> mcp_types.CallToolResult | mcp_types.InputRequiredResult:
        arguments = dict(params.arguments or {})
        try:
            connection = await self._connection(ctx)
            async with connection.lock:
                connection.last_call = self._clock()
                session = connection.session
                answer = (params.input_responses or {}).get(_ANSWER)
                waiting = session.waiting_for
                if answer is not None and waiting is not None and params.request_state == waiting:
                    await self._decide(connection, waiting, answer)
                outcome = await session.call(params.name, arguments)
                if outcome.status == "pending" and self._may_ask(ctx, outcome):
                    asked = await self._ask(ctx, connection, outcome)
                    if asked is not None:  # the client asks on its side, then calls again
                        return asked
                    outcome = await session.call(params.name, arguments)
                if outcome.status == "ended":
                    self._connections.pop(self._key(ctx), None)
        except ProctorError as exc:  # a session that could not start, a store error
            logger.warning("mcp proxy: %s", exc)
            outcome = CallOutcome("error", message=f"Proctor could not take this call: {exc}")
        return _result(outcome)

    # --- sessions -------------------------------------------------------------------------

    def _key(self, ctx: ServerRequestContext[Any]) -> str:
        """Which client session a request belongs to: its HTTP session, else the client
        (a stdio proxy serves one client; MCP 2026-07-28 requests carry no session)."""
        headers = getattr(ctx.request, "headers", None)
        session_id = None if headers is None else headers.get("mcp-session-id")
        return f"http:{session_id}" if session_id else f"client:{_client_name(ctx)}"

    async def _connection(self, ctx: ServerRequestContext[Any]) -> _Connection:
        key = self._key(ctx)
        connection = self._connections.get(key)
        now = self._clock()
        if connection is not None and now - connection.last_call > self.idle_gap_s:
            self._connections.pop(key, None)
            await connection.session.close("The client was idle; its session ended.")
            connection = None
        if connection is None:
            client = _client_name(ctx)
            session = await AgentSession.start(
                self.store,
                self.workflow,
                agent=client,
                input={**self.input, "client": client},
                started_by=f"mcp:{client}",
                tenant=self.tenant,
                keys=self.keys,
            )
            connection = self._connections[key] = _Connection(session, now)
        return connection

    async def close(self) -> None:
        """End every session (the clients are gone)."""
        connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            try:
                await connection.session.close("The client disconnected.")
            except ProctorError as exc:
                logger.warning("mcp proxy: ending run %s: %s", connection.session.run_id, exc)

    # --- approvals in the client -------------------------------------------------------------

    def _may_ask(self, ctx: ServerRequestContext[Any], outcome: CallOutcome) -> bool:
        from mcp_types import ClientCapabilities, ElicitationCapability

        if self.approver is None or outcome.approval_id is None:
            return False
        wants = ClientCapabilities(elicitation=ElicitationCapability())
        return bool(ctx.session.check_client_capability(wants))

    async def _ask(
        self, ctx: ServerRequestContext[Any], connection: _Connection, outcome: CallOutcome
    ) -> mcp_types.InputRequiredResult | None:
        """Put a pending approval to the person in their client. On a connection with a
        back channel the answer comes at once (and is recorded: ``None`` is returned);
        otherwise (MCP 2026-07-28) the call answers with the question, and the client
        calls again with the person's answer (``_call_tool`` records it)."""
        from mcp.shared.exceptions import NoBackChannelError
        from mcp_types import ElicitRequest, ElicitRequestFormParams, InputRequiredResult

        assert outcome.approval_id is not None
        approval = await self.store.get_approval(outcome.approval_id)
        if approval is None:
            return None
        question = (
            f"Proctor: {approval.tool} needs your approval ({approval.rule}: {approval.reason}).\n"
            f"Arguments: {orjson.dumps(approval.arguments).decode()[:2000]}"
        )
        try:
            answer = await ctx.session.elicit_form(question, _QUESTION)
        except NoBackChannelError:
            request = ElicitRequest(
                params=ElicitRequestFormParams(message=question, requested_schema=_QUESTION)
            )
            return InputRequiredResult(
                input_requests={_ANSWER: request}, request_state=outcome.approval_id
            )
        except Exception as exc:  # the client refused the request, or failed
            logger.info("mcp proxy: could not ask in the client: %s", exc)
            return None
        await self._decide(connection, outcome.approval_id, answer)
        return None

    async def _decide(self, connection: _Connection, approval_id: str, answer: Any) -> None:
        """Record the person's answer from their client (a cancel decides nothing)."""
        action = getattr(answer, "action", None)
        if action not in ("accept", "decline") or self.approver is None:
            return
        content = getattr(answer, "content", None) or {}
        approved = action == "accept" and content.get("approve") is True
        reason = str(content.get("reason") or ("" if approved else "declined in the client"))
        await decide_approval(
            self.store,
            approval_id,
            approved=approved,
            by=self.approver,
            reason=reason,
            redactor=connection.session.runner.redactor,
            keys=self.keys,
        )

    def _may_list(self, name: str) -> bool:
        contract = self.contract
        if name in contract.forbidden_tools:
            return False
        return contract.allowed_tools is None or name in contract.allowed_tools


def _client_name(ctx: ServerRequestContext[Any]) -> str:
    params = ctx.session.client_params
    info = None if params is None else params.client_info
    return info.name if info is not None and info.name else "mcp-client"


def _result(outcome: CallOutcome) -> mcp_types.CallToolResult:
    from mcp_types import CallToolResult, TextContent

    if outcome.status == "ok":
        result = outcome.result
        if isinstance(result, dict) and isinstance(result.get("content"), list):
            return CallToolResult.model_validate(result)  # an MCP server's, as it sent it
        text = result if isinstance(result, str) else orjson.dumps(result).decode()
        return CallToolResult(
            content=[TextContent(type="text", text=text)],
            structured_content=result if isinstance(result, dict) else None,
        )
    prefix = {"denied": "Proctor denied this call: ", "ended": "Proctor: "}.get(outcome.status, "")
    return CallToolResult(
        content=[TextContent(type="text", text=prefix + outcome.message)], is_error=True
    )


async def run_stdio_proxy(proxy: McpProxy) -> None:
    """Serve ``proxy`` to the one client on this process's stdin and stdout, until the
    client goes; then end its session."""
    from mcp.server.stdio import stdio_server

    try:
        async with stdio_server() as (read, write):
            await proxy.server.run(read, write, proxy.server.create_initialization_options())
    finally:
        await proxy.close()


def http_app(proxy: McpProxy, *, host: str = "127.0.0.1") -> Any:
    """``proxy`` as a streamable-HTTP MCP server (an ASGI app, at ``/mcp``), for clients
    whose server entry is a URL. It has no authentication of its own, so it is for
    loopback: ``UsageError`` for another host."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise UsageError(
            f"the MCP proxy over HTTP has no authentication, so it serves loopback only, not "
            f"{host!r}. Fix: bind to 127.0.0.1 (a client on another machine reaches it "
            "through an authenticating reverse proxy or an SSH tunnel)"
        )
    return proxy.server.streamable_http_app(host=host)


async def run_http_proxy(proxy: McpProxy, *, host: str = "127.0.0.1", port: int = 8790) -> None:
    """Serve ``proxy`` over streamable HTTP until SIGINT/SIGTERM; then end its sessions."""
    import uvicorn

    app = http_app(proxy, host=host)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", ws="none")
    )
    try:
        await server.serve()
    finally:
        await proxy.close()
