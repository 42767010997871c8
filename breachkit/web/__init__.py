"""The incident board: a server-rendered web app over the incident store (`breachkit serve`).

It sits above every stage (design.md, "Wave 2 additions"): its routes are thin adapters over the same use cases
the CLI calls (`breachkit.incidents.api`, `…tasks_api`, `…board_api`, `…users_api`, `breachkit.subjects.api`,
`breachkit.notices.api`), run as the signed-in user (`Session.as_actor`). Nothing in the stages imports it.
"""
