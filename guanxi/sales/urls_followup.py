from django.urls import path

from guanxi.sales import views_followup as views

urlpatterns = [
    path("tasks/", views.tasks_page, name="tasks"),
    path("tasks/new/", views.task_new, name="task_new"),
    path("tasks/<int:task_id>/", views.task_detail, name="task_detail"),
    path("tasks/<int:task_id>/delete/", views.task_delete, name="task_delete"),
    path(
        "tasks/<int:task_id>/<str:action>/",
        views.task_action,
        name="task_action",
    ),
    path("activities/new/", views.activity_new, name="activity_new"),
    path("activities/quick/<int:customer_id>/", views.activity_quick, name="activity_quick"),
    path("activities/<int:activity_id>/", views.activity_edit, name="activity_edit"),
    path("activities/<int:activity_id>/delete/", views.activity_delete, name="activity_delete"),
    path("follow-up/", views.follow_up_page, name="follow_up"),
    path("follow-up/settings/", views.follow_up_settings, name="follow_up_settings"),
    path("calendar/", views.calendar_page, name="calendar"),
    path("calendar/<str:token>.ics", views.calendar_feed, name="calendar_feed"),
    path("notifications/", views.notifications_page, name="notifications"),
    path("notifications/bell/", views.bell, name="bell"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
    path(
        "notifications/<int:notification_id>/read/",
        views.notification_read,
        name="notification_read",
    ),
    path(
        "notifications/<int:notification_id>/open/",
        views.notification_open,
        name="notification_open",
    ),
]
