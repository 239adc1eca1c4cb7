"""The course's scenarios, one module each (Kurose & Ross, chapter by chapter). Every module here with
`LAB` and `run(ctx)` is a scenario, found by `wirelab scenario list` without any list to edit; see
`scenarios.framework` for how to write one.
"""
