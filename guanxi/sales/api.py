"""/api/v1 for the sales app: one router made of the routers of each part."""

from ninja import Router

from guanxi.sales import api_followup, api_leads, api_pipeline, api_targets

router = Router()
# Each part owns its paths; fixed paths (e.g. /leads/import) come before /{id} ones in
# its own router.
router.add_router("/", api_leads.router)
router.add_router("/", api_pipeline.router)
router.add_router("/", api_followup.router)
router.add_router("/", api_targets.router)
