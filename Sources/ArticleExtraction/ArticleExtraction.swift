// The ArticleExtraction module: see README "Modules".
