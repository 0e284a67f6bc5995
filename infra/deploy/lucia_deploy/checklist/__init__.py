"""The testing checklist as a guided, recorded run (`make checklist STACK=...`).

parse   the checklists' markdown -> steps (the single source of ids, commands, criteria)
target  the stack under test: outputs, secrets, profile, the images its containers run
run     walking the steps: run the blocks, ask the tester, save progress after each step
record  a run's progress (progress.json), loaded again to resume
report  the signed record: report.md, report.html, junit.xml
"""
