// Constraints and indexes of the ytgraph model. Every statement is idempotent (IF NOT EXISTS).
CREATE CONSTRAINT video_id IF NOT EXISTS FOR (v:Video) REQUIRE v.video_id IS UNIQUE;
CREATE CONSTRAINT user_id IF NOT EXISTS FOR (u:User) REQUIRE u.user_id IS UNIQUE;
CREATE CONSTRAINT channel_id IF NOT EXISTS FOR (c:Channel) REQUIRE c.channel_id IS UNIQUE;
CREATE CONSTRAINT category_name IF NOT EXISTS FOR (c:Category) REQUIRE c.name IS UNIQUE;
CREATE CONSTRAINT meta_key IF NOT EXISTS FOR (m:YtgraphMeta) REQUIRE m.key IS UNIQUE;
// No index on RELATED.rank: expansion always starts from known videos, and such an index makes
// the planner seek all top-k edges of the graph instead (an early version had one: drop it).
DROP INDEX related_rank IF EXISTS;
CREATE INDEX video_views IF NOT EXISTS FOR (v:Video) ON (v.views);
CREATE INDEX video_uploaded IF NOT EXISTS FOR (v:Video) ON (v.uploaded_at);
