"""A composite skill end to end on the embedded database: tools, a skill, an execution, its log.

.venv/bin/python examples/skills_demo.py
"""

from __future__ import annotations

from typing import Any

from phase3_sdk import Phase3Client
from phase3_sdk.db.embedded import EmbeddedDatabase


def main() -> None:
    with EmbeddedDatabase() as db:
        db.setup()
        user_id = db.create_user("demo@example.test")
        with Phase3Client.connect(db.url) as client:
            me = client.as_user(user_id=user_id)

            # A JavaScript tool, stored in custom_tools and run in a fresh QuickJS sandbox per call.
            me.tools.create(name="double", code="log('doubling', params.x); return { result: params.x * 2 };")

            # A Python tool, registered in this process (found before any custom_tools row).
            @me.tools.handler("describe", timeout=2.0)
            def describe(params: dict[str, Any]) -> dict[str, str]:
                return {"text": f"{params['n']} is {'big' if params['n'] > 10 else 'small'}"}

            steps = [
                {"stepId": "step1", "toolName": "double", "inputMapping": {"x": "$.input.x"}},
                {
                    "stepId": "step2",
                    "toolName": "describe",
                    "inputMapping": {"n": "$.step1.result"},
                    "condition": "step1.result > 0",
                },
            ]
            print("problems:", me.skills.validate(steps))
            me.skills.create(name="double-and-describe", steps=steps)

            run = me.skills.execute("double-and-describe", {"x": 8})
            print(run.status, run.final_output, f"{run.steps_completed}/{run.total_steps} steps")
            for record in run.steps_executed:
                print(" ", record.step_id, record.success, record.output, f"{record.execution_time_ms} ms")
            for usage in me.tool_usage.list(skill_execution_id=run.id):
                print(
                    "  logged:", usage.tool_name, usage.status, usage.input_params, "->", usage.output_result
                )

            single = me.tools.execute("double", {"x": 21})
            print("single run:", single.status, single.output, single.logs)


if __name__ == "__main__":
    main()
