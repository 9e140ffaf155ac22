-- runs that posted to Slack after a time, to space out approval reminders
select count(*) as n
from runs
where slack_posted_at > :since
