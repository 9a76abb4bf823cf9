"""The ISV console's generation pages (included under /console/)."""

from django.urls import path

from generation import console_views as views

console_urlpatterns = [
    path("model-nodes/", views.node_list, name="console_nodes"),
    path("model-nodes/add/", views.node_edit, name="console_node_add"),
    path("model-nodes/<int:pk>/", views.node_edit, name="console_node_edit"),
    path("model-nodes/<int:pk>/toggle/", views.node_toggle, name="console_node_toggle"),
    path("model-nodes/<int:pk>/reset/", views.node_reset, name="console_node_reset"),
    path("model-nodes/<int:pk>/test/", views.node_test, name="console_node_test"),
    path("instructions/", views.instruction_list, name="console_instructions"),
    path("instructions/add/", views.instruction_set_add, name="console_instruction_set_add"),
    path("instructions/<int:pk>/", views.instruction_set, name="console_instruction_set"),
    path("instructions/<int:pk>/draft/", views.instruction_draft,
         name="console_instruction_draft"),
    path("instructions/versions/<int:pk>/", views.instruction_version,
         name="console_instruction_version"),
    path("instructions/versions/<int:pk>/test/", views.instruction_test,
         name="console_instruction_test"),
    path("instructions/versions/<int:pk>/publish/", views.instruction_publish,
         name="console_instruction_publish"),
    path("instructions/versions/<int:pk>/retire/", views.instruction_retire,
         name="console_instruction_retire"),
    path("evaluation-sets/", views.evaluation_sets, name="console_evaluation_sets"),
    path("evaluation-sets/add/", views.evaluation_set_add, name="console_evaluation_set_add"),
    path("evaluation-sets/<int:pk>/", views.evaluation_set, name="console_evaluation_set"),
    path("evaluation-runs/<int:pk>/", views.evaluation_run, name="console_evaluation_run"),
    path("banned-words/", views.banned_words, name="console_banned_words"),
    path("banned-words/add/", views.banned_word_add, name="console_banned_word_add"),
    path("banned-words/bulk/", views.banned_word_bulk, name="console_banned_word_bulk"),
    path("banned-words/<int:pk>/delete/", views.banned_word_delete,
         name="console_banned_word_delete"),
    path("model-requests/", views.request_log, name="console_request_log"),
    path("jobs/", views.job_list, name="console_jobs"),
    path("jobs/<int:pk>/diagnose/", views.job_diagnose, name="console_job_diagnose"),
    path("model-cost/", views.cost, name="console_model_cost"),
]
