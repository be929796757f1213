"""What a chat request's output is constrained to: a forced tool call, vLLM's
`structured_outputs`, or `response_format`, each checked before the engine sees it."""

from __future__ import annotations

from vllm.sampling_params import StructuredOutputsParams

from server.chat.schemas import ChatCompletionRequest
from server.errors import BadRequestError
from server.structured.check import ConstraintCheck
from server.structured.formats import JsonSchemaFormat, response_format_params
from server.tools.calls import ToolCallReader
from server.tools.constrain import constrained_tools, tool_constraint


def request_constraint(
    request: ChatCompletionRequest, check: ConstraintCheck
) -> StructuredOutputsParams | None:
    """A forced tool call wins over a response format (which then shapes no text anyway)."""
    if request.tools:
        forced = tool_constraint(
            request.tools, request.effective_tool_choice, request.parallel_tool_calls
        )
        if forced is not None:
            _check_tool_parameters(request, check)
            check.check(forced, "tools")
            return forced
    if request.structured_outputs is not None:
        try:
            constraint = request.structured_outputs.to_params()
        except ValueError as error:
            raise BadRequestError(str(error), param="structured_outputs") from error
        check.check(constraint, "structured_outputs")
        return constraint
    constraint = response_format_params(request.response_format)
    if constraint is not None:
        where = "response_format"
        if isinstance(request.response_format, JsonSchemaFormat):
            where = "response_format.json_schema.schema"
        check.check(constraint, where)
    return constraint


def _check_tool_parameters(request: ChatCompletionRequest, check: ConstraintCheck) -> None:
    """Each schema a forced call uses, on its own: a refusal names the tool's parameters."""
    for index, tool in constrained_tools(request.tools or [], request.effective_tool_choice):
        constraint = StructuredOutputsParams(json=tool.function.parameters)
        check.check(constraint, f"tools.{index}.function.parameters")


def tool_reader(request: ChatCompletionRequest) -> ToolCallReader | None:
    """None when the output is only text: no tools, or tool_choice "none"."""
    choice = request.effective_tool_choice
    if not request.tools or choice == "none":
        return None
    return ToolCallReader(request.tools, choice, request.parallel_tool_calls)
