// The shop API on NestJS (platform-express), with AgentModule.forRoot().
// Plain CommonJS with decorators applied by hand, so it runs without a build.
// WORKERS=2 for cluster mode.
require('reflect-metadata')
const cluster = require('node:cluster')
const { Controller, Get, Post, Param, Body, HttpCode, BadRequestException, Module } = require('@nestjs/common')
const { NestFactory } = require('@nestjs/core')
const { AgentModule, startSpan } = require('@agent/nest')

const workers = Number(process.env.WORKERS ?? 0)
const port = Number(process.env.PORT ?? 3000)
const work = (ms) => new Promise((r) => setTimeout(r, ms))
const decorate = (cls, method, decorators) => {
  const d = Object.getOwnPropertyDescriptor(cls.prototype, method)
  for (const dec of decorators) dec(cls.prototype, method, d)
}

class ShopController {
  async user(id) {
    await work(1 + Math.random() * 4)
    return { id, name: `user ${id}` }
  }
  async reviews(id) {
    await work(2 + Math.random() * 8)
    return { product: id, reviews: [{ stars: 5 }] }
  }
  order(body) {
    if (!body?.items?.length) throw new BadRequestException('an order needs items')
    return { id: Date.now(), items: body.items.length }
  }
  async slow() {
    const span = startSpan('db.query', { 'db.system': 'sqlite' })
    await work(250 + Math.random() * 300)
    span.end()
    return { report: 'done' }
  }
  boom() {
    throw new Error('inventory service unavailable')
  }
  health() {
    return 'ok'
  }
}
decorate(ShopController, 'user', [Get('api/users/:id')])
Param('id')(ShopController.prototype, 'user', 0)
decorate(ShopController, 'reviews', [Get('api/products/:id/reviews')])
Param('id')(ShopController.prototype, 'reviews', 0)
decorate(ShopController, 'order', [Post('api/orders'), HttpCode(201)])
Body()(ShopController.prototype, 'order', 0)
decorate(ShopController, 'slow', [Get('api/slow')])
decorate(ShopController, 'boom', [Get('api/boom')])
decorate(ShopController, 'health', [Get('health')])
Controller()(ShopController)

class AppModule {}
Module({ imports: [AgentModule.forRoot()], controllers: [ShopController] })(AppModule)

if (workers > 0 && cluster.isPrimary) {
  let stopping = false
  for (let i = 0; i < workers; i++) cluster.fork()
  cluster.on('exit', () => stopping || cluster.fork())
  process.once('SIGTERM', () => {
    stopping = true
    for (const worker of Object.values(cluster.workers)) worker.disconnect()
  })
} else {
  NestFactory.create(AppModule, { logger: ['error'] }).then(async (app) => {
    await app.listen(port, '127.0.0.1')
    if (!cluster.isWorker || cluster.worker.id === 1) process.stdout.write(`nest-demo listening on http://127.0.0.1:${port}\n`)
  })
}
